/* CBLAS (OpenBLAS) and LAPACKE for Swift. Debian's libopenblas carries LAPACK but not
   LAPACKE, which comes from liblapacke and forwards to OpenBLAS. No Swift API of its own:
   the LinearAlgebra module wraps it. */
#ifndef SIGNALPROP_CBLAS_SHIM_H
#define SIGNALPROP_CBLAS_SHIM_H
#include <cblas.h>
#include <lapacke.h>
#endif
