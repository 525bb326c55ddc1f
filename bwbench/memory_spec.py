"""The memory's theoretical bandwidth, where the platform says it: the DIMMs
that SMBIOS lists (dmidecode, which needs root). Nothing is guessed: where
the platform does not tell, the answer says so and why."""
import re
import shutil
import subprocess


def _dimms(text: str) -> list:
    """(MT/s, data width in bits) of each populated 'Memory Device' of dmidecode -t 17."""
    found = []
    for block in text.split("\n\n"):
        if "Memory Device" not in block or "No Module Installed" in block:
            continue
        speed = re.search(r"Configured (?:Memory|Clock) Speed:\s*(\d+)\s*MT/s", block) or \
            re.search(r"\n\s*Speed:\s*(\d+)\s*MT/s", block)
        width = re.search(r"Data Width:\s*(\d+)\s*bits", block)
        if speed and width:
            found.append((int(speed.group(1)), int(width.group(1))))
    return found


def theoretical_bandwidth(run=subprocess.run) -> dict:
    """{'gbps': the DIMMs' sum of MT/s x bytes wide (an upper bound: as if each DIMM had its own
    channel), 'dimms', 'source'} or {'gbps': None, 'reason'}."""
    if not shutil.which("dmidecode"):
        return {"gbps": None, "reason": "dmidecode is not installed"}
    try:
        done = run(["dmidecode", "-t", "17"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as error:
        return {"gbps": None, "reason": f"dmidecode failed: {error}"}
    dimms = _dimms(done.stdout) if done.returncode == 0 else []
    if not dimms:
        why = (done.stderr or "").strip().splitlines()
        return {"gbps": None, "reason": "the platform lists no memory speed (dmidecode: "
                                        f"{why[0] if why else 'no populated memory device with a speed'})"}
    return {"gbps": sum(speed * width / 8 for speed, width in dimms) / 1e3,
            "dimms": [{"mts": speed, "bits": width} for speed, width in dimms],
            "source": "dmidecode -t 17, every DIMM on its own channel (an upper bound)"}
