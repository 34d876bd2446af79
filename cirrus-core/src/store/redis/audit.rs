//! Redis backend: the audit stream ([`AuditLog`]).

use super::*;

#[async_trait::async_trait]
impl AuditLog for RedisStore {
    async fn append_audit(&self, record: &AuditRecord) -> Result<()> {
        let _: String = self
            .query(
                cmd("XADD")
                    .arg(keys::AUDIT)
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(self.inner.config.audit_len)
                    .arg("*")
                    .arg("record")
                    .arg(encode(record)?),
            )
            .await?;
        Ok(())
    }

    async fn recent_audit(&self, limit: usize) -> Result<Vec<AuditRecord>> {
        let v: Value = self
            .query(
                cmd("XREVRANGE")
                    .arg(keys::AUDIT)
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(limit),
            )
            .await?;
        stream_entries(v)
            .into_iter()
            .map(|(id, f)| {
                let key = format!("{}/{id}", keys::AUDIT);
                let json = f.get("record").ok_or_else(|| Error::corrupt(&key, "no record field"))?;
                decode(&key, json)
            })
            .collect()
    }
}
