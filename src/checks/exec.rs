//! Exec checks: a command run in a service's container through the engine's exec API,
//! its exit code and output compared with what the check expects. Reachability checks
//! use the same helper to run `getent` and bash's `/dev/tcp` inside a container.

use super::{Outcome, Target, conn, show, show_argv};
use crate::scenario::ExecAction;
use crate::stack::exec::run_in;

pub(crate) async fn run(a: &ExecAction, target: &Target) -> Outcome {
    let svc = match conn::service(target, &a.service) {
        Ok(s) => s,
        Err(e) => return Outcome::Error(e),
    };
    let shown = show_argv(&a.command, 80);
    let out = match run_in(
        &target.docker,
        &svc.container_id,
        &a.command,
        a.user.as_deref(),
    )
    .await
    {
        Ok(o) => o,
        Err(e) => return Outcome::Error(e),
    };
    let combined = out.combined();
    if out.exit_code != a.expect.exit_code {
        return Outcome::Fail(format!(
            "`{shown}` in `{}`: expected exit code {}, got {}; output: {}",
            a.service,
            a.expect.exit_code,
            out.exit_code,
            show(&combined, 300)
        ));
    }
    if let Some(re) = &a.expect.output
        && !re.is_match(&combined)
    {
        return Outcome::Fail(format!(
            "`{shown}` in `{}`: expected output matching /{}/, got {}",
            a.service,
            re.as_str(),
            show(&combined, 300)
        ));
    }
    Outcome::Pass(format!(
        "`{shown}` exited {}; output: {}",
        out.exit_code,
        show(&combined, 120)
    ))
}
