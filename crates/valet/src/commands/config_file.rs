//! `valet export`, `valet plan -f FILE`, `valet apply -f FILE` (issue 21).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use valet_server::admin::Admin;
use valet_server::admin::desired::{Desired, Plan};

use super::now;

/// Set by `plan` when the database differs from the file: the process exits 2.
pub static DRIFT: AtomicBool = AtomicBool::new(false);

/// The file read, its plan made against the database and printed.
async fn planned(admin: &Admin, file: &Path, prune: bool) -> Result<Plan, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let desired = Desired::parse(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let plan = admin
        .plan(&desired, prune)
        .await
        .map_err(|e| e.to_string())?;
    print!("{}", plan.render());
    Ok(plan)
}

pub(super) async fn export(admin: &Admin) -> Result<(), String> {
    let desired = admin.export().await.map_err(|e| e.to_string())?;
    print!("{}", desired.to_toml());
    Ok(())
}

pub(super) async fn plan(admin: &Admin, file: &Path, prune: bool) -> Result<(), String> {
    let plan = planned(admin, file, prune).await?;
    if plan.changes.is_empty() && plan.refused.is_empty() {
        out!(
            "No changes: the database says what {} says.",
            file.display()
        );
    } else {
        out!(
            "{} change(s){}.",
            plan.changes.len(),
            if plan.refused.is_empty() {
                String::new()
            } else {
                format!(", {} refused (apply would stop)", plan.refused.len())
            }
        );
        DRIFT.store(true, Ordering::Relaxed);
    }
    Ok(())
}

pub(super) async fn apply(admin: &Admin, file: &Path, prune: bool) -> Result<(), String> {
    let plan = planned(admin, file, prune).await?;
    let applied = admin
        .apply_plan(&plan, &|v| std::env::var(v).ok(), now())
        .await
        .map_err(|e| {
            format!("{e} (what was applied before it stands; `valet plan` shows the rest)")
        })?;
    for (name, id, secret) in &applied.secrets {
        out!(
            "application \"{name}\": client_id {id}, client_secret {} (shown once: store it now)",
            secret.expose()
        );
    }
    out!("Applied {} change(s).", applied.changes);
    Ok(())
}
