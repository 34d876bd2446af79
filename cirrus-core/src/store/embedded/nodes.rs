//! Embedded backend: nodes, their health and their edges' reports ([`NodeStore`]).

use super::*;

#[async_trait::async_trait]
impl NodeStore for EmbeddedStore {
    async fn nodes(&self) -> Result<Vec<Node>> {
        let nodes: Vec<Node> = self
            .read(|tx| {
                read_all(tx, NODES)?
                    .iter()
                    .map(|(k, v)| decode("nodes", k, v))
                    .collect()
            })
            .await?;
        let live = self.live();
        Ok(nodes.into_iter().map(|n| live.with_report(n)).collect())
    }

    async fn get_node(&self, id: &str) -> Result<Option<Node>> {
        let node: Option<Node> = self.get_json(NODES, id).await?;
        Ok(node.map(|n| self.live().with_report(n)))
    }

    async fn put_node(&self, node: &Node) -> Result<Write> {
        let mut node = validated_node(node)?;
        self.write(move |tx, cfg| {
            let old: Option<Node> = get_str(tx, NODES, &node.id)?
                .map(|j| decode("nodes", &node.id, &j))
                .transpose()?;
            if let Some(old) = &old {
                node.active = old.active;
                node.health = old.health.clone();
                node.last_seen = old.last_seen;
            }
            put_str(tx, NODES, &node.id, &encode(&node)?)?;
            let (rev, recs) = announce(
                tx,
                cfg.changelog_len,
                &node_pubs(&node.id, &format!("node {}", node.id)),
            )?;
            Ok((
                Write {
                    revision: rev,
                    created: old.is_none(),
                },
                recs,
            ))
        })
        .await
    }

    async fn delete_node(&self, id: &str) -> Result<Option<u64>> {
        let id = id.to_string();
        let forget = id.clone();
        let deleted = self
            .write(move |tx, cfg| {
                if !remove_str(tx, NODES, &id)? {
                    return Ok((None, Vec::new()));
                }
                let (rev, recs) = announce(tx, cfg.changelog_len, &node_pubs(&id, &format!("node {id} deleted")))?;
                Ok((Some(rev), recs))
            })
            .await?;
        if deleted.is_some() {
            self.live().forget_node(&forget);
        }
        Ok(deleted)
    }

    async fn record_node_health(
        &self,
        id: &str,
        health: &NodeHealth,
        active: bool,
        last_seen: Option<u64>,
    ) -> Result<Option<u64>> {
        let (id, health) = (id.to_string(), health.clone());
        self.write(move |tx, cfg| {
            let Some(json) = get_str(tx, NODES, &id)? else {
                return Ok((None, Vec::new()));
            };
            let mut node: Node = decode("nodes", &id, &json)?;
            let flipped = node.active != active;
            node.active = active;
            let last_check = health.last_check.or(node.health.last_check);
            node.health = NodeHealth { last_check, ..health };
            node.last_seen = last_seen.or(node.last_seen);
            put_str(tx, NODES, &id, &encode(&node)?)?;
            if !flipped {
                return Ok((None, Vec::new()));
            }
            let reason = format!("node {id} {}", if active { "up" } else { "down" });
            let (rev, recs) = announce(tx, cfg.changelog_len, &node_pubs(&id, &reason))?;
            Ok((Some(rev), recs))
        })
        .await
    }

    async fn report_edge(&self, id: &str, report: &EdgeReport) -> Result<bool> {
        if self.get_json::<Node>(NODES, id).await?.is_none() {
            return Ok(false);
        }
        self.live().report(id, report);
        Ok(true)
    }

    async fn cluster_secret(&self) -> Result<String> {
        self.write(|tx, _| {
            let kept = tx
                .open_table(META)
                .map_err(db_err)?
                .get(CLUSTER_SECRET)
                .map_err(db_err)?
                .map(|v| v.value().to_string());
            let secret = match kept {
                Some(s) => s,
                None => {
                    let s = crate::auth::random_hex(32);
                    put_str(tx, META, CLUSTER_SECRET, &s)?;
                    s
                }
            };
            Ok((secret, Vec::new()))
        })
        .await
    }
}

fn node_pubs(id: &str, reason: &str) -> Vec<(&'static str, String)> {
    vec![
        (channels::CONFIG, config_payload(&Change::Node(id.to_string()))),
        (channels::CNAME_DIRTY, cname_payload(reason)),
    ]
}
