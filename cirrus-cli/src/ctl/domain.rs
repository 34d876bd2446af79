//! `cirrusctl domain …`: list, get, status, put (create, or replace with
//! `--replace` or a file), set (read-modify-write with `If-Match`), patch,
//! delete, import.

use super::args::{DomainCmd, DomainPut, DomainSet};
use super::error::CtlError;
use super::output::Printer;
use super::{read_json, read_json_named};
use cirrus_client::{Client, Error, Precondition, Written};
use cirrus_core::DomainConf;
use cirrus_core::model::{DomainView, Origin, ShieldPolicy};

pub(super) async fn run(api: &Client, out: &Printer, cmd: DomainCmd) -> Result<i32, CtlError> {
    match cmd {
        DomainCmd::List => out.domains(&api.all_domains().await?),
        DomainCmd::Get { domain } => out.domain(&api.get_domain(&domain).await?, None),
        DomainCmd::Status {
            domain,
            wait,
            wait_timeout,
        } => return status(api, out, &domain, wait.then_some(wait_timeout)).await,
        DomainCmd::Put(args) => {
            let from_flags = args.file.is_none();
            let replace = args.replace;
            let conf = domain_conf(args)?;
            let written = if from_flags && !replace {
                api.put_domain_if(&conf, &Precondition::Absent)
                    .await
                    .map_err(|e| exists(e, &conf.domain))?
            } else {
                api.put_domain(&conf).await?
            };
            out.domain(&written.item, Some(written.created));
        }
        DomainCmd::Set(args) => {
            let written = set_domain(api, &args).await?;
            out.domain(&written.item, Some(false));
        }
        DomainCmd::Patch { domain, file } => {
            let patch: serde_json::Value = read_json(&file)?;
            out.domain(&api.patch_domain(&domain, &patch).await?, None);
        }
        DomainCmd::Import { file, batch } => return super::import::run(api, out, &file, batch.into()).await,
        DomainCmd::Delete { domain } => {
            api.delete_domain(&domain).await?;
            out.done(&format!("deleted domain {domain}"));
        }
    }
    Ok(super::EXIT_OK)
}

/// Prints the domain's status: 0 when ready, [`super::EXIT_NOT_READY`]
/// when not; with `wait`, asks again (every 2 s) until it is or the time
/// is up.
async fn status(api: &Client, out: &Printer, domain: &str, wait: Option<std::time::Duration>) -> Result<i32, CtlError> {
    let deadline = wait.map(|w| tokio::time::Instant::now() + w);
    loop {
        let status = api.domain_status(domain).await?;
        let waiting = deadline.is_some_and(|d| tokio::time::Instant::now() < d);
        if status.ready || !waiting {
            out.domain_status(&status);
            return Ok(if status.ready {
                super::EXIT_OK
            } else {
                super::EXIT_NOT_READY
            });
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
}

/// Tells how to change or replace a domain that `put` found existing.
fn exists(e: Error, domain: &str) -> Error {
    match e {
        Error::Api {
            status: 412,
            code,
            request_id,
            ..
        } => Error::Api {
            status: 412,
            code,
            message: format!(
                "domain {domain} exists and was left as it is: `cirrusctl domain set {domain} …` changes some \
                 settings, `cirrusctl domain put {domain} --replace …` replaces it whole"
            ),
            details: Vec::new(),
            request_id,
        },
        other => other,
    }
}

/// Read, change, write back with `If-Match`; read again when someone
/// else wrote in between (three tries).
async fn set_domain(api: &Client, args: &DomainSet) -> Result<Written<DomainView>, CtlError> {
    let mut tries = 0;
    loop {
        let current = api.get_domain_versioned(&args.domain).await?;
        let etag = current
            .etag
            .ok_or_else(|| CtlError::Failed("the API sent no ETag with the domain".into()))?;
        let mut conf = current.item.conf;
        apply(args, &mut conf)?;
        match api.put_domain_if(&conf, &Precondition::Unchanged(etag)).await {
            Err(e) if e.is_precondition_failed() && tries < 2 => tries += 1,
            done => return Ok(done?),
        }
    }
}

/// The changes `domain set` asks for, applied to `conf`.
fn apply(args: &DomainSet, conf: &mut DomainConf) -> Result<(), CtlError> {
    if !args.origins.is_empty() {
        let mut origins = parse_origins(&args.origins, false)?;
        origins.extend(conf.origins.iter().filter(|o| o.backup).cloned());
        conf.origins = origins;
    }
    if !args.backups.is_empty() {
        conf.origins.retain(|o| !o.backup);
        conf.origins.extend(parse_origins(&args.backups, true)?);
    }
    args.cache.apply(conf);
    if let Some(on) = args.enabled {
        conf.enabled = on;
    }
    if let Some(shield) = &args.shield {
        conf.shield = shield.clone();
    }
    Ok(())
}

/// `--shield`: `off`, `cluster`, or node ids separated by commas (checked
/// by the API with the rest of the domain).
pub(crate) fn shield_flag(s: &str) -> Result<ShieldPolicy, String> {
    match s.trim() {
        "off" => Ok(ShieldPolicy::default()),
        "cluster" => Ok(ShieldPolicy::cluster()),
        "" => Err("give off, cluster or node ids (edge-1,edge-2)".into()),
        ids => Ok(ShieldPolicy::nodes(
            ids.split(',').map(str::trim).filter(|id| !id.is_empty()),
        )),
    }
}

/// `--origin` (or, with `backup`, `--backup-origin`) values as origins.
fn parse_origins(specs: &[String], backup: bool) -> Result<Vec<Origin>, CtlError> {
    let flag = if backup { "--backup-origin" } else { "--origin" };
    specs
        .iter()
        .map(|spec| {
            let mut o: Origin = spec
                .parse()
                .map_err(|e| CtlError::Input(format!("{flag} {spec}: {e}")))?;
            o.backup = backup;
            Ok(o)
        })
        .collect()
}

fn domain_conf(args: DomainPut) -> Result<DomainConf, CtlError> {
    if let Some(file) = &args.file {
        return read_json_named(file, "domain", &args.domain);
    }
    let mut origins = parse_origins(&args.origins, false)?.into_iter();
    let first = origins
        .next()
        .ok_or_else(|| CtlError::Input("give at least one --origin".into()))?;
    let mut conf = DomainConf::new(args.domain, first);
    conf.origins.extend(origins);
    conf.origins.extend(parse_origins(&args.backups, true)?);
    conf.enabled = !args.disabled;
    conf.shield = args.shield.unwrap_or_default();
    args.cache.apply(&mut conf);
    Ok(conf)
}
