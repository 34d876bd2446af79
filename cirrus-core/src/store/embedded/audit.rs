//! Embedded backend: the audit stream ([`AuditLog`]).

use super::*;

#[async_trait::async_trait]
impl AuditLog for EmbeddedStore {
    async fn append_audit(&self, record: &AuditRecord) -> Result<()> {
        let json = encode(record)?;
        self.write(move |tx, cfg| {
            let seq = next_seq(tx, AUDIT_SEQ)?;
            let cap = u64::try_from(cfg.audit_len).unwrap_or(u64::MAX);
            let mut t = tx.open_table(AUDIT).map_err(db_err)?;
            t.insert(seq, json.as_str()).map_err(db_err)?;
            while t.len().map_err(db_err)? > cap {
                t.pop_first().map_err(db_err)?;
            }
            Ok(((), Vec::new()))
        })
        .await
    }

    async fn recent_audit(&self, limit: usize) -> Result<Vec<AuditRecord>> {
        self.read(move |tx| {
            let t = tx.open_table(AUDIT).map_err(db_err)?;
            let mut out = Vec::new();
            for entry in t.iter().map_err(db_err)?.rev().take(limit) {
                let (k, v) = entry.map_err(db_err)?;
                out.push(decode("audit", &k.value().to_string(), v.value())?);
            }
            Ok(out)
        })
        .await
    }
}
