//! Who may do what: the endpoint × credential matrix, token lifecycle,
//! sessions with CSRF, the generated master token, rate limits.

use crate::{Backend, Harness, MASTER, domain, self_signed};
use cirrus_api::{Api, RateLimit, bootstrap_user, ensure_master_token};
use cirrus_client::{Client, RetryPolicy};
use cirrus_core::Node;
use cirrus_core::auth::hash_secret;
use cirrus_core::model::{Scope, ServiceToken, TokenRequest};
use reqwest::Method;
use serde_json::{Value, json};

battery!(
    matrix,
    token_lifecycle,
    expired_and_revoked_tokens,
    sessions_and_csrf,
    generated_master_token,
    rate_limit,
);

/// What an endpoint needs: a scope, or the master token.
#[derive(Clone, Copy)]
enum Need {
    Scope(Scope),
    Master,
    AnyCaller,
}

struct Endpoint {
    method: Method,
    path: String,
    body: Option<Value>,
    need: Need,
    /// The domain it touches, for domain-limited tokens.
    domain: Option<&'static str>,
}

fn ep(method: Method, path: &str, body: Option<Value>, need: Need, domain: Option<&'static str>) -> Endpoint {
    Endpoint {
        method,
        path: path.to_string(),
        body,
        need,
        domain,
    }
}

async fn token(h: &Harness, scopes: Vec<Scope>, domains: Option<Vec<&str>>) -> String {
    let req = TokenRequest {
        name: "matrix".into(),
        scopes,
        domains: domains.map(|d| d.into_iter().map(String::from).collect()),
        expires_at: None,
    };
    h.master.create_token(&req).await.unwrap().secret
}

async fn call(h: &Harness, e: &Endpoint, bearer: Option<&str>) -> u16 {
    let mut req = reqwest::Client::new().request(e.method.clone(), format!("{}{}", h.url, e.path));
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    if let Some(b) = &e.body {
        req = req.json(b);
    }
    req.send().await.unwrap().status().as_u16()
}

pub async fn matrix(backend: Backend) {
    let h = Harness::start(backend).await;
    for d in ["a.com", "del.com"] {
        h.master.put_domain(&domain(d)).await.unwrap();
    }
    for n in ["edge-1", "edge-del"] {
        h.master
            .put_node(&Node::new(n).with_ipv4("192.0.2.7".parse().unwrap()))
            .await
            .unwrap();
    }
    let (cert, key) = self_signed(&["a.com"]);
    let victim = h
        .master
        .create_token(&TokenRequest {
            name: "victim".into(),
            scopes: vec![Scope::Read],
            ..Default::default()
        })
        .await
        .unwrap()
        .token
        .id;
    let s = Need::Scope;
    let endpoints = [
        ep(Method::GET, "/api/v1/domains", None, s(Scope::Read), None),
        ep(
            Method::GET,
            "/api/v1/domains/a.com",
            None,
            s(Scope::Read),
            Some("a.com"),
        ),
        ep(
            Method::PUT,
            "/api/v1/domains/a.com",
            Some(json!({"origins": [{"host": "o.com"}]})),
            s(Scope::DomainsWrite),
            Some("a.com"),
        ),
        ep(
            Method::POST,
            "/api/v1/domains:batch",
            Some(json!({"domains": [{"domain": "b.com", "origins": [{"host": "o.com"}]}]})),
            s(Scope::DomainsWrite),
            None,
        ),
        ep(
            Method::PATCH,
            "/api/v1/domains/a.com",
            Some(json!({"enabled": true})),
            s(Scope::DomainsWrite),
            Some("a.com"),
        ),
        ep(
            Method::DELETE,
            "/api/v1/domains/del.com",
            None,
            s(Scope::DomainsWrite),
            Some("del.com"),
        ),
        ep(
            Method::POST,
            "/api/v1/domains/a.com/purge",
            Some(json!({"all": true})),
            s(Scope::Purge),
            Some("a.com"),
        ),
        ep(
            Method::POST,
            "/api/v1/domains/a.com/certificate",
            None,
            s(Scope::Certs),
            Some("a.com"),
        ),
        ep(
            Method::GET,
            "/api/v1/domains/a.com/certificate",
            None,
            s(Scope::Read),
            Some("a.com"),
        ),
        ep(
            Method::PUT,
            "/api/v1/domains/a.com/certificate",
            Some(json!({"fullchain": cert, "key": key})),
            s(Scope::Certs),
            Some("a.com"),
        ),
        ep(Method::GET, "/api/v1/nodes", None, s(Scope::Read), None),
        ep(Method::GET, "/api/v1/nodes/edge-1", None, s(Scope::Read), None),
        ep(
            Method::PUT,
            "/api/v1/nodes/edge-1",
            Some(json!({"weight": 2, "ipv4": "192.0.2.8"})),
            s(Scope::Nodes),
            None,
        ),
        ep(
            Method::POST,
            "/api/v1/nodes/edge-1/disable",
            None,
            s(Scope::Nodes),
            None,
        ),
        ep(Method::POST, "/api/v1/nodes/edge-1/enable", None, s(Scope::Nodes), None),
        ep(Method::DELETE, "/api/v1/nodes/edge-del", None, s(Scope::Nodes), None),
        ep(Method::GET, "/api/v1/audit", None, s(Scope::Read), None),
        ep(Method::GET, "/api/v1/events", None, s(Scope::Read), None),
        ep(
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"name": "x", "scopes": ["read"]})),
            Need::Master,
            None,
        ),
        ep(Method::GET, "/api/v1/tokens", None, Need::Master, None),
        ep(
            Method::DELETE,
            &format!("/api/v1/tokens/{victim}"),
            None,
            Need::Master,
            None,
        ),
        ep(Method::GET, "/api/v1/auth/me", None, Need::AnyCaller, None),
    ];
    let all_scopes = token(&h, Scope::ALL.to_vec(), None).await;
    for e in &endpoints {
        let what = format!("{} {}", e.method, e.path);
        assert_eq!(call(&h, e, None).await, 401, "{what}: no credentials");
        assert_eq!(
            call(&h, e, Some("cirrus_not-a-real-token")).await,
            401,
            "{what}: bad token"
        );
        let right = match e.need {
            Need::Scope(scope) => {
                let others: Vec<Scope> = Scope::ALL.iter().copied().filter(|s| *s != scope).collect();
                let wrong = token(&h, others, None).await;
                assert_eq!(call(&h, e, Some(&wrong)).await, 403, "{what}: wrong scope");
                if let Some(d) = e.domain {
                    let outside = token(&h, vec![scope], Some(vec!["other.com"])).await;
                    assert_eq!(
                        call(&h, e, Some(&outside)).await,
                        403,
                        "{what}: domain outside the token's list"
                    );
                    let inside = token(&h, vec![scope], Some(vec![d])).await;
                    Some(inside)
                } else {
                    Some(token(&h, vec![scope], None).await)
                }
            }
            Need::Master => {
                assert_eq!(
                    call(&h, e, Some(&all_scopes)).await,
                    403,
                    "{what}: service tokens cannot"
                );
                None
            }
            Need::AnyCaller => Some(token(&h, vec![Scope::Read], Some(vec!["x.com"])).await),
        };
        let status = call(&h, e, Some(right.as_deref().unwrap_or(MASTER))).await;
        assert!((200..300).contains(&status), "{what}: right credentials got {status}");
    }
}

pub async fn token_lifecycle(backend: Backend) {
    let h = Harness::start(backend).await;
    for d in ["a.com", "b.com", "c.com"] {
        h.master.put_domain(&domain(d)).await.unwrap();
    }
    let created = h
        .master
        .create_token(&TokenRequest {
            name: "ci-deploy".into(),
            scopes: vec![Scope::Read, Scope::Purge],
            domains: Some(vec!["A.com".into(), "c.com".into()]),
            expires_at: None,
        })
        .await
        .unwrap();
    assert!(created.secret.starts_with("cirrus_"));
    assert_eq!(
        created.token.domains,
        Some(vec!["a.com".to_string(), "c.com".to_string()])
    );
    let listed = h.master.tokens().await.unwrap().items;
    assert_eq!(listed, std::slice::from_ref(&created.token));
    let raw = h
        .raw(Method::GET, "/api/v1/tokens")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!raw.contains(&created.secret) && !raw.contains(&hash_secret(&created.secret)));

    let ci = h.client(&created.secret);
    let me = ci.me().await.unwrap();
    assert_eq!((me.kind.as_str(), me.id.as_str()), ("token", created.token.id.as_str()));
    let names: Vec<String> = ci.all_domains().await.unwrap().into_iter().map(|d| d.domain).collect();
    assert_eq!(
        names,
        ["a.com", "c.com"],
        "a domain-limited token sees its domains only"
    );
    assert_eq!(ci.tokens().await.unwrap_err().status(), Some(403));

    let e = h
        .master
        .create_token(&TokenRequest {
            name: String::new(),
            scopes: vec![],
            domains: Some(vec!["bad domain".into()]),
            expires_at: None,
        })
        .await
        .unwrap_err();
    let fields: Vec<&str> = e.details().iter().map(|d| d.field.as_str()).collect();
    assert_eq!(fields, ["name", "scopes", "domains[0]"]);
    let res = h
        .raw(Method::POST, "/api/v1/tokens")
        .json(&json!({"name": "x", "scopes": ["superuser"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422, "unknown scope");

    h.master.revoke_token(&created.token.id).await.unwrap();
    assert_eq!(ci.me().await.unwrap_err().status(), Some(401), "revoked at once");
    assert_eq!(
        h.master.revoke_token(&created.token.id).await.unwrap_err().status(),
        Some(404)
    );
    assert_eq!(h.master.revoke_token("master").await.unwrap_err().status(), Some(404));
}

pub async fn expired_and_revoked_tokens(backend: Backend) {
    let h = Harness::start(backend).await;
    let expired = ServiceToken {
        id: "0011223344556677".into(),
        name: "old".into(),
        scopes: vec![Scope::Read],
        domains: None,
        created_at: 1,
        expires_at: Some(2),
    };
    h.store
        .put_token(&expired, &hash_secret("cirrus_expired"))
        .await
        .unwrap();
    let e = h.client("cirrus_expired").me().await.unwrap_err();
    assert_eq!((e.status(), e.to_string().contains("expired")), (Some(401), true));
    let res = h
        .raw(Method::POST, "/api/v1/tokens")
        .json(&json!({"name": "x", "scopes": ["read"], "expires_at": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422, "expiry in the past");
    let res = h
        .raw(Method::POST, "/api/v1/tokens")
        .json(&json!({"name": "x", "scopes": ["read"], "expires_at": 9_223_372_036_854_775_808_u64}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        422,
        "an expiry past the year 9999 (found by schemathesis)"
    );
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/auth/me", h.url))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
}

pub async fn sessions_and_csrf(backend: Backend) {
    let h = Harness::start(backend).await;
    assert!(
        bootstrap_user(&*h.store, "admin", "correct horse battery")
            .await
            .unwrap()
    );
    assert!(
        !bootstrap_user(&*h.store, "admin", "another password!!").await.unwrap(),
        "existing users are kept"
    );
    assert!(
        bootstrap_user(&*h.store, "bad name", "correct horse battery")
            .await
            .is_err()
    );

    let portal = h.anonymous();
    let e = portal.login("admin", "wrong password").await.unwrap_err();
    assert_eq!(e.status(), Some(401));
    assert_eq!(
        portal.login("nobody", "whatever").await.unwrap_err().status(),
        Some(401)
    );

    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", h.url))
        .json(&json!({"username": "admin", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    let body: Value = res.json().await.unwrap();
    let csrf = body["csrf_token"].as_str().unwrap().to_string();

    let put = |csrf: Option<&str>| {
        let mut req = reqwest::Client::new()
            .put(format!("{}/api/v1/domains/a.com", h.url))
            .header("cookie", &session)
            .json(&json!({"origins": [{"host": "o.com"}]}));
        if let Some(c) = csrf {
            req = req.header("x-csrf-token", c);
        }
        req.send()
    };
    let refused = put(None).await.unwrap();
    assert_eq!(refused.status(), 403, "no CSRF token");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "csrf_failed", "{body}");
    assert_eq!(put(Some("forged")).await.unwrap().status(), 403, "wrong CSRF token");
    assert!(h.store.get_domain("a.com").await.unwrap().is_none());
    assert_eq!(put(Some(&csrf)).await.unwrap().status(), 201);
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/domains/a.com", h.url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "reads need no CSRF token");

    portal.login("admin", "correct horse battery").await.unwrap();
    let me = portal.me().await.unwrap();
    assert_eq!((me.kind.as_str(), me.id.as_str()), ("user", "admin"));
    portal.put_domain(&domain("b.com")).await.unwrap();
    assert_eq!(h.master.audit(Some(1)).await.unwrap().items[0].actor, "user:admin");
    // A portal user (an administrator) manages service tokens too.
    let made = portal
        .create_token(&TokenRequest {
            name: "from the portal".into(),
            scopes: vec![Scope::Read],
            domains: None,
            expires_at: None,
        })
        .await
        .unwrap();
    assert!(
        portal
            .tokens()
            .await
            .unwrap()
            .items
            .iter()
            .any(|t| t.id == made.token.id)
    );
    portal.revoke_token(&made.token.id).await.unwrap();
    assert_eq!(h.master.audit(Some(1)).await.unwrap().items[0].actor, "user:admin");
    portal.logout().await.unwrap();
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/auth/me", h.url))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "the other session lives on");
    assert_eq!(portal.me().await.unwrap_err().status(), Some(401), "logged out");
    assert_eq!(
        h.master.logout().await.unwrap_err().status(),
        Some(403),
        "bearer callers have no session"
    );
}

pub async fn generated_master_token(backend: Backend) {
    let h = Harness::start(backend).await;
    let secret = ensure_master_token(&*h.store)
        .await
        .unwrap()
        .expect("generated on first start");
    assert!(ensure_master_token(&*h.store).await.unwrap().is_none(), "and only then");
    // An API without a configured master token accepts the stored one...
    let api = Api::builder(h.store.clone()).rate_limit(None).build().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = cirrus_core::lifecycle::Shutdown::new();
    tokio::spawn(async move { api.run(listener, &shutdown).await });
    let generated = Client::builder(&url)
        .token(&secret)
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    assert_eq!(generated.me().await.unwrap().kind, "master");
    generated
        .create_token(&TokenRequest {
            name: "n".into(),
            scopes: vec![Scope::Read],
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        generated.tokens().await.unwrap().items.iter().all(|t| t.id != "master"),
        "not listed"
    );
    // ...while one configured with a master token refuses it.
    assert_eq!(h.client(&secret).me().await.unwrap_err().status(), Some(401));
}

pub async fn rate_limit(backend: Backend) {
    let h = Harness::start_with(backend, |b| b.rate_limit(Some(RateLimit::new(1.0, 3)))).await;
    for _ in 0..3 {
        h.master.me().await.unwrap();
    }
    let e = h.master.me().await.unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(429), Some("rate_limited")));
    let res = h.raw(Method::GET, "/api/v1/auth/me").send().await.unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "1");
    // Another caller has its own budget; anonymous callers are limited by address.
    let other = token_via(&h).await;
    h.client(&other).me().await.unwrap();
    let anon = h.anonymous();
    let statuses: Vec<Option<u16>> = futures_util::future::join_all((0..4).map(|_| anon.me()))
        .await
        .into_iter()
        .map(|r| r.unwrap_err().status())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == Some(429)).count(), 1, "{statuses:?}");
    // A client that retries waits as told and gets through.
    let patient = Client::builder(&h.url).token(MASTER).build().unwrap();
    let started = std::time::Instant::now();
    assert_eq!(patient.me().await.unwrap().kind, "master");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

/// A second token made directly in the store (the master's budget is spent).
async fn token_via(h: &Harness) -> String {
    let t = ServiceToken {
        id: "aabbccddeeff0011".into(),
        name: "other".into(),
        scopes: vec![Scope::Read],
        domains: None,
        created_at: 1,
        expires_at: None,
    };
    h.store.put_token(&t, &hash_secret("cirrus_other")).await.unwrap();
    "cirrus_other".into()
}
