//! dockmatrix: runs a stack on every combination of Docker engine, storage driver and
//! dependency versions, and reports which combinations work.
