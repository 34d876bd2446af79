//! Webhook management: endpoints, their secrets, delivery logs and replays.
//! A receiver checks what it gets with [`cirrus_core::webhook::verify`]
//! (re-exported as `cirrus_client::core::webhook`).

use crate::client::Client;
use crate::error::Result;
use cirrus_core::model::{
    CreatedWebhook, Delivery, DeliveryList, RotatedSecret, SecretRotation, Webhook, WebhookList, WebhookSpec,
};
use reqwest::Method;
use std::time::Duration;

impl Client {
    /// Registers an endpoint; keep the returned secret, it is not shown again.
    pub async fn create_webhook(&self, spec: &WebhookSpec) -> Result<CreatedWebhook> {
        self.json(Method::POST, &["webhooks"], &[], Some(spec)).await
    }

    /// The endpoints this caller may manage.
    pub async fn webhooks(&self) -> Result<WebhookList> {
        self.json(Method::GET, &["webhooks"], &[], None::<&()>).await
    }

    /// One endpoint.
    pub async fn get_webhook(&self, id: &str) -> Result<Webhook> {
        self.json(Method::GET, &["webhooks", id], &[], None::<&()>).await
    }

    /// Replaces an endpoint's settings (enabling it clears why it was disabled).
    pub async fn replace_webhook(&self, id: &str, spec: &WebhookSpec) -> Result<Webhook> {
        self.json(Method::PUT, &["webhooks", id], &[], Some(spec)).await
    }

    /// Deletes an endpoint and its logs.
    pub async fn delete_webhook(&self, id: &str) -> Result<()> {
        self.empty(Method::DELETE, &["webhooks", id]).await
    }

    /// A new signing secret; the previous one also signs for `overlap`
    /// (the server's default, a day, when `None`).
    pub async fn rotate_webhook_secret(&self, id: &str, overlap: Option<Duration>) -> Result<RotatedSecret> {
        let body = SecretRotation {
            overlap_secs: overlap.map(|o| o.as_secs()),
        };
        self.json(Method::POST, &["webhooks", id, "rotate-secret"], &[], Some(&body))
            .await
    }

    /// The endpoint's newest attempts, newest first (`limit` 1-1000).
    pub async fn webhook_deliveries(&self, id: &str, limit: Option<usize>) -> Result<DeliveryList> {
        let query: Vec<(&str, String)> = limit.map(|l| ("limit", l.to_string())).into_iter().collect();
        self.json(Method::GET, &["webhooks", id, "deliveries"], &query, None::<&()>)
            .await
    }

    /// The events the worker gave up on, newest first (`limit` 1-1000).
    pub async fn webhook_dead_letters(&self, id: &str, limit: Option<usize>) -> Result<DeliveryList> {
        let query: Vec<(&str, String)> = limit.map(|l| ("limit", l.to_string())).into_iter().collect();
        self.json(Method::GET, &["webhooks", id, "dead-letters"], &query, None::<&()>)
            .await
    }

    /// Queues one attempt's event to be posted again; answers the queued attempt.
    pub async fn replay_webhook_delivery(&self, id: &str, delivery: &str) -> Result<Delivery> {
        self.json(
            Method::POST,
            &["webhooks", id, "deliveries", delivery, "replay"],
            &[],
            None::<&()>,
        )
        .await
    }
}
