//! The `dockmatrix` binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    dockmatrix::cli::main()
}
