//! Small readings of bollard's errors shared by every room that talks to Docker (engine,
//! stack, checks): they sit here, below all of them.

/// 404 on removal means "already done".
pub fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}
