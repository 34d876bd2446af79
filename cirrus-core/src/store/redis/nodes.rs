//! Redis backend: nodes, their health and their edges' reports ([`NodeStore`]).

use super::*;

#[async_trait::async_trait]
impl NodeStore for RedisStore {
    async fn nodes(&self) -> Result<Vec<Node>> {
        let hashes = self.indexed_hashes(keys::NODES, keys::node).await?;
        hashes.iter().map(|(id, h)| node_from_hash(id, h)).collect()
    }

    async fn get_node(&self, id: &str) -> Result<Option<Node>> {
        let h = self.hash(&keys::node(id)).await?;
        if h.is_empty() {
            Ok(None)
        } else {
            node_from_hash(id, &h).map(Some)
        }
    }

    async fn put_node(&self, node: &Node) -> Result<Write> {
        let node = validated_node(node)?;
        let key = keys::node(&node.id);
        let mut c = Commit {
            guard: Some(key.clone()),
            ..Commit::default()
        };
        let weight = node.weight.to_string();
        c.op(&[
            "HSET",
            &key,
            "id",
            &node.id,
            "weight",
            &weight,
            "enabled",
            &flag(node.enabled),
        ]);
        match node.ipv4 {
            Some(a) => c.op(&["HSET", &key, "ipv4", &a.to_string()]),
            None => c.op(&["HDEL", &key, "ipv4"]),
        };
        match node.ipv6 {
            Some(a) => c.op(&["HSET", &key, "ipv6", &a.to_string()]),
            None => c.op(&["HDEL", &key, "ipv6"]),
        };
        c.op(&["HSETNX", &key, "active", &flag(node.active)])
            .op(&["SADD", keys::NODES, &node.id])
            .announce(&Change::Node(node.id.clone()))
            .cname_dirty(&format!("node {}", node.id));
        let (revision, existed) = self.commit(c).await?;
        Ok(Write {
            revision,
            created: !existed,
        })
    }

    async fn delete_node(&self, id: &str) -> Result<Option<u64>> {
        let key = keys::node(id);
        let mut c = Commit {
            guard: Some(key.clone()),
            require_guard: true,
            ..Commit::default()
        };
        c.op(&["DEL", &key])
            .op(&["SREM", keys::NODES, id])
            .announce(&Change::Node(id.to_string()))
            .cname_dirty(&format!("node {id} deleted"));
        let (revision, existed) = self.commit(c).await?;
        Ok(existed.then_some(revision))
    }

    async fn record_node_health(
        &self,
        id: &str,
        health: &NodeHealth,
        active: bool,
        last_seen: Option<u64>,
    ) -> Result<Option<u64>> {
        let key = keys::node(id);
        let mut c = Commit {
            guard: Some(key.clone()),
            require_guard: true,
            unless_field_is: Some([key.clone(), "active".into(), flag(active)]),
            ..Commit::default()
        };
        let (fails, oks) = (
            health.consecutive_failures.to_string(),
            health.consecutive_successes.to_string(),
        );
        c.op(&[
            "HSET",
            &key,
            "active",
            &flag(active),
            "fails",
            &fails,
            "successes",
            &oks,
        ]);
        if let Some(t) = health.last_check {
            c.op(&["HSET", &key, "last_check", &t.to_string()]);
        }
        match &health.last_error {
            Some(e) => c.op(&["HSET", &key, "last_error", e]),
            None => c.op(&["HDEL", &key, "last_error"]),
        };
        if let Some(t) = last_seen {
            c.op(&["HSET", &key, "last_seen", &t.to_string()]);
        }
        c.announce(&Change::Node(id.to_string()))
            .cname_dirty(&format!("node {id} {}", if active { "up" } else { "down" }));
        let (revision, _) = self.commit(c).await?;
        Ok((revision > 0).then_some(revision))
    }

    async fn report_edge(&self, id: &str, report: &EdgeReport) -> Result<bool> {
        self.write_edge_report(id, report).await
    }

    async fn cluster_secret(&self) -> Result<String> {
        // The first writer wins; every caller reads what won.
        let fresh = crate::auth::random_hex(32);
        self.query::<()>(redis::cmd("SET").arg(keys::CLUSTER_SECRET).arg(&fresh).arg("NX"))
            .await?;
        self.get_string(keys::CLUSTER_SECRET)
            .await?
            .ok_or_else(|| Error::corrupt(keys::CLUSTER_SECRET, "the cluster secret vanished as it was set"))
    }
}

fn node_from_hash(id: &str, h: &HashMap<String, String>) -> Result<Node> {
    let key = keys::node(id);
    let mut node = Node::new(id);
    node.ipv4 = parse_field(&key, "ipv4", h.get("ipv4"))?;
    node.ipv6 = parse_field(&key, "ipv6", h.get("ipv6"))?;
    node.weight = parse_field(&key, "weight", h.get("weight"))?.unwrap_or(1);
    node.enabled = h.get("enabled").is_none_or(|v| v == "1");
    node.active = h.get("active").is_none_or(|v| v == "1");
    node.health.consecutive_failures = parse_field(&key, "fails", h.get("fails"))?.unwrap_or(0);
    node.health.consecutive_successes = parse_field(&key, "successes", h.get("successes"))?.unwrap_or(0);
    node.health.last_check = parse_field(&key, "last_check", h.get("last_check"))?;
    node.health.last_error = h.get("last_error").filter(|s| !s.is_empty()).cloned();
    node.last_seen = parse_field(&key, "last_seen", h.get("last_seen"))?;
    node.edge = convergence::edge_report_from_hash(&key, h)?;
    Ok(node)
}
