//! The `dockmatrix` binary: parses the command line and renders; everything else lives in
//! the library (`dockmatrix::`).

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
