"""Pure numerical kernels (numpy/scipy/cvxpy): no stages, no I/O, no registry."""
