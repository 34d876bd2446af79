use super::*;
use bytes::BytesMut;
use http::{Method, StatusCode, Version};

const REQUEST: &[u8] = b"GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nUser-Agent: test/1\r\n\
X-Custom: one\r\nAccept: */*\r\nx-custom: two\r\nCache-Control: no-cache\r\n\r\nBODY";

#[test]
fn a_parsed_request_keeps_order_repeats_and_case_insensitive_names() {
    let mut buf = BytesMut::from(REQUEST);
    let head = RequestHead::parse(&mut buf).unwrap().unwrap();
    assert_eq!(&buf[..], b"BODY", "only the head is consumed");
    assert_eq!(head.method, Method::GET);
    assert_eq!(head.uri, "/a/b?c=d");
    assert_eq!(head.version, Version::HTTP_11);
    let f = &head.fields;
    assert_eq!(f.len(), 6);
    assert_eq!(f.get("HOST"), Some(&b"example.com"[..]));
    assert_eq!(f.get_str("cache-control"), Some("no-cache"));
    assert_eq!(f.get_all("X-CUSTOM").collect::<Vec<_>>(), [&b"one"[..], b"two"]);
    assert!(f.contains("accept") && !f.contains("accept-encoding") && !f.contains("x-custo"));
    let names: Vec<&[u8]> = f.iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            &b"host"[..],
            b"user-agent",
            b"X-Custom",
            b"accept",
            b"x-custom",
            b"cache-control"
        ],
        "interned names are lowercase, others as sent"
    );
}

#[test]
fn a_partial_head_asks_for_more_and_a_malformed_one_is_refused() {
    let mut buf = BytesMut::from(&REQUEST[..30]);
    assert!(RequestHead::parse(&mut buf).unwrap().is_none());
    assert_eq!(buf.len(), 30, "nothing consumed");
    let mut bad = BytesMut::from(&b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"[..]);
    assert!(matches!(RequestHead::parse(&mut bad), Err(HeadError::Malformed(_))));
    let mut many = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..=MAX_FIELDS {
        many.extend_from_slice(format!("x-{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert_eq!(
        RequestHead::parse(&mut BytesMut::from(&many[..])).unwrap_err(),
        HeadError::TooManyFields
    );
}

#[test]
fn edits_mix_parsed_and_added_fields_and_refuse_injection() {
    let mut buf = BytesMut::from(REQUEST);
    let mut head = RequestHead::parse(&mut buf).unwrap().unwrap();
    let f = &mut head.fields;
    assert!(f.remove("x-custom"));
    assert!(!f.remove("x-custom"));
    f.insert("Host", "origin.test").unwrap();
    f.append("X-Forwarded-For", "192.0.2.1").unwrap();
    f.retain(|name, _| name != b"user-agent");
    assert_eq!(f.append("x-a", "v\r\nx-injected: 1"), Err(FieldError::Value));
    assert_eq!(f.append("x a", "v"), Err(FieldError::Name));
    assert_eq!(f.append("", "v"), Err(FieldError::Name));
    f.append("x-tab", "a\tb").unwrap();
    let mut wire = Vec::new();
    head.write_to(&mut wire);
    assert_eq!(
        String::from_utf8(wire).unwrap(),
        "GET /a/b?c=d HTTP/1.1\r\naccept: */*\r\ncache-control: no-cache\r\nhost: origin.test\r\n\
         x-forwarded-for: 192.0.2.1\r\nx-tab: a\tb\r\n\r\n"
    );
}

#[test]
fn a_response_head_parses_writes_and_converts_both_ways() {
    let mut buf =
        BytesMut::from(&b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nVary: Accept\r\nX-Y: z\r\n\r\nabc"[..]);
    let head = ResponseHead::parse(&mut buf).unwrap().unwrap();
    assert_eq!(&buf[..], b"abc");
    assert_eq!(head.status, StatusCode::NOT_FOUND);
    let parts = head.to_parts().unwrap();
    assert_eq!(parts.headers.len(), 3);
    assert_eq!(parts.headers["x-y"], "z");
    let back = ResponseHead::from(parts.clone());
    assert_eq!(back.fields.get("content-length"), Some(&b"3"[..]));
    let mut wire = Vec::new();
    back.write_to(&mut wire);
    assert!(
        wire.starts_with(b"HTTP/1.1 404 Not Found\r\ncontent-length: 3\r\n"),
        "{wire:?}"
    );
    assert!(wire.ends_with(b"x-y: z\r\n\r\n"));
    let mut short = BytesMut::from(&b"HTTP/1.1 200 OK\r\nA: b\r\n"[..]);
    assert!(ResponseHead::parse(&mut short).unwrap().is_none());
}

#[test]
fn request_parts_round_trip() {
    let mut buf = BytesMut::from(REQUEST);
    let head = RequestHead::parse(&mut buf).unwrap().unwrap();
    let parts = head.to_parts().unwrap();
    assert_eq!(parts.headers.get_all("x-custom").iter().count(), 2);
    let again = RequestHead::from(parts.clone());
    assert_eq!(again.method, Method::GET);
    assert_eq!(again.uri, "/a/b?c=d");
    // A header map groups a name's values, so compare the fields as sets.
    let sorted = |f: &Fields| {
        let mut all: Vec<_> = f.iter().map(|(n, v)| (n.to_ascii_lowercase(), v.to_vec())).collect();
        all.sort();
        all
    };
    assert_eq!(sorted(&head.fields), sorted(&again.fields));
    let built = RequestHead::new(Method::HEAD, "/x".parse().unwrap());
    let mut wire = Vec::new();
    built.write_to(&mut wire);
    assert_eq!(wire, b"HEAD /x HTTP/1.1\r\n\r\n");
}

#[test]
fn known_names_find_what_strings_find() {
    let mut buf = BytesMut::from(REQUEST);
    let mut head = RequestHead::parse(&mut buf).unwrap().unwrap();
    let f = &mut head.fields;
    assert_eq!(f.get(Known::CacheControl), f.get("CACHE-CONTROL"));
    assert_eq!(f.get(Known::Host), Some(&b"example.com"[..]));
    assert_eq!(Known::XForwardedFor.as_str(), "x-forwarded-for");
    assert!(!f.contains(Known::Range));
    assert_eq!(f.append(Known::Via, "1.1 a\r\n"), Err(FieldError::Value));
    f.insert(Known::Via, "1.1 cirrus").unwrap();
    assert_eq!(f.get("via"), Some(&b"1.1 cirrus"[..]));
    assert!(f.remove(Known::Via) && !f.contains("Via"));
}

#[test]
fn detached_fields_own_their_bytes_and_keep_order() {
    let mut buf = BytesMut::from(REQUEST);
    let mut head = RequestHead::parse(&mut buf).unwrap().unwrap();
    head.fields.append("x-added", "late").unwrap();
    let own = head.fields.detached();
    let parsed = head
        .fields
        .iter()
        .map(|(n, v)| (n.to_vec(), v.to_vec()))
        .collect::<Vec<_>>();
    assert_eq!(
        own.iter().map(|(n, v)| (n.to_vec(), v.to_vec())).collect::<Vec<_>>(),
        parsed
    );
    assert_eq!(own.text_len(), head.fields.text_len());
    // Nothing of the parsed head is referenced: its bytes may go.
    let span = head.fields.get(Known::Host).unwrap().as_ptr() as usize;
    let host = own.get(Known::Host).unwrap().as_ptr() as usize;
    assert_ne!(span, host);
    drop(head);
    assert_eq!(own.get(Known::Host), Some(&b"example.com"[..]));
    assert_eq!(own.get("x-added"), Some(&b"late"[..]));
}

#[test]
fn lists_numbers_and_sizes() {
    let mut f = super::fields(&[("vary", "Accept-Encoding, ,cookie"), ("Vary", " x-a ")]);
    let members: Vec<_> = f.get_list(Known::Vary).collect();
    assert_eq!(members, [&b"Accept-Encoding"[..], b"cookie", b"x-a"]);
    for n in [0, 7, 10, 1234567890, u64::MAX] {
        f.insert_number(Known::Age, n);
        assert_eq!(f.get_str(Known::Age), Some(n.to_string().as_str()));
        assert_eq!(f.get_all(Known::Age).count(), 1);
    }
    assert_eq!(
        f.text_len(),
        "vary".len() * 2 + "Accept-Encoding, ,cookie".len() + " x-a ".len() + "age".len() + 20
    );
}

#[test]
fn interned_names_are_found_after_every_kind_of_edit() {
    let mut f = super::fields(&[("Age", "1"), ("x-a", "2"), ("age", "3")]);
    assert_eq!(f.get_all(Known::Age).count(), 2);
    f.retain(|_, v| v != b"1");
    assert_eq!(f.get(Known::Age), Some(&b"3"[..]));
    f.retain(|name, _| name != b"age");
    assert!(!f.contains(Known::Age) && !f.remove(Known::Age));
    f.append("AGE", "4").unwrap();
    assert_eq!(f.get("age"), Some(&b"4"[..]));
    let copy = f.detached();
    assert!(f.remove(Known::Age) && !f.contains(Known::Age));
    assert_eq!(copy.get(Known::Age), Some(&b"4"[..]));
    assert_eq!(
        Fields::from(&copy.to_header_map().unwrap()).get(Known::Age),
        Some(&b"4"[..])
    );
    let mut buf = BytesMut::from(&b"HTTP/1.1 200 OK\r\nETag: \"e\"\r\n\r\n"[..]);
    let parsed = ResponseHead::parse(&mut buf).unwrap().unwrap();
    assert!(parsed.fields.contains(Known::Etag) && !parsed.fields.contains(Known::Age));
}

#[test]
fn numbers_are_written_in_decimal_as_display_writes_them() {
    for n in [0, 7, 10, 1024, 99_999, u64::MAX]
        .into_iter()
        .chain((0..1000).map(|_| rand::random::<u64>() >> (rand::random::<u32>() % 64)))
    {
        assert_eq!(decimal(n, &mut [0; 20]), n.to_string().as_bytes(), "{n}");
    }
}

#[test]
fn the_edge_s_own_fields_and_name_sets() {
    let mut f = Fields::new();
    f.append_own(Known::Via, b"1.1 cirrus");
    f.append("x-other", "1").unwrap();
    f.insert_own(Known::Via, b"1.1 edge");
    assert_eq!(f.get_all(Known::Via).collect::<Vec<_>>(), [&b"1.1 edge"[..]]);
    let set = KnownSet::of(&[Known::Via, Known::Range]);
    assert!(f.has_any(set));
    f.remove_all(set);
    assert!(!f.has_any(set) && f.get(Known::Via).is_none());
    assert_eq!(f.iter().count(), 1, "the others stay");
}
