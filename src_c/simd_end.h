/* Ends a block begun with simd_begin.h. */
#pragma GCC pop_options
#undef vd
#undef W
#undef SFX
#undef VLOAD
#undef VSTORE
#undef VSTREAM
#undef VSET1
#undef VZERO
#undef VADD
#undef VMUL
#undef VFMA
#undef VSUM
#undef VFENCE
#undef vf
#undef VSET1F
#undef VADDF
#undef VMULF
#undef VFMAF
#undef VSUMF
#undef BW_ISA
