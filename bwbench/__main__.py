from bwbench.cli import main

raise SystemExit(main())
