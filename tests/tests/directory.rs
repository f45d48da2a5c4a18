//! The staff's directory of students, black-box: who may read it, the class and name filters,
//! the order, and the limit of one listing.

use konsult_testkit::{HttpResponse, Server, ServerOptions, http_request};
use serde_json::Value;

fn get(server: &Server, path: &str, token: Option<&str>) -> HttpResponse {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    http_request(server.addr, "GET", path, &headers, b"")
}

fn post(server: &Server, path: &str, token: &str, body: &[u8]) -> HttpResponse {
    let auth = format!("Bearer {token}");
    http_request(
        server.addr,
        "POST",
        path,
        &[("authorization", auth.as_str())],
        body,
    )
}

/// Percent-encodes a query value (Cyrillic names included).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The students of a listing as `(name, class)`, checking each row's shape.
fn students(resp: &HttpResponse) -> Vec<(String, String)> {
    assert_eq!(resp.status, 200, "{}", resp.text());
    let body = resp.json();
    body["students"]
        .as_array()
        .expect("students")
        .iter()
        .map(|s| {
            let keys: Vec<&str> = s
                .as_object()
                .expect("object")
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(keys, ["class", "id", "name"], "{s}");
            assert!(s["id"].as_i64().is_some(), "{s}");
            (
                s["name"].as_str().expect("name").to_string(),
                s["class"].as_str().expect("class").to_string(),
            )
        })
        .collect()
}

fn names(resp: &HttpResponse) -> Vec<String> {
    students(resp).into_iter().map(|(name, _)| name).collect()
}

#[test]
fn staff_list_active_students_by_class_and_name_students_may_not() {
    let server = Server::start(ServerOptions::demo());
    let admin = server.login("admin", "demo");
    let teacher = server.login("teacher1", "demo");
    let psychologist = server.login("psychologist1", "demo");
    let student = server.login("student1", "demo");

    // Who may read it.
    for path in ["/api/students", "/api/classes"] {
        let anonymous = get(&server, path, None);
        assert_eq!(anonymous.status, 401, "{path}");
        assert_eq!(anonymous.json()["code"], "unauthorized");
        let refused = get(&server, path, Some(&student));
        assert_eq!(refused.status, 403, "{path}");
        assert_eq!(refused.json()["code"], "forbidden");
        for token in [&teacher, &psychologist, &admin] {
            assert_eq!(get(&server, path, Some(token)).status, 200, "{path}");
        }
    }

    // The demo school: 30 students of 9A, and no staff among them.
    let all = students(&get(&server, "/api/students", Some(&teacher)));
    assert_eq!(all.len(), 30);
    assert!(all.iter().all(|(_, class)| class == "9A"));
    let staff = get(
        &server,
        &format!("/api/students?q={}", encode("Смирнова")),
        Some(&teacher),
    );
    assert_eq!(
        names(&staff),
        Vec::<String>::new(),
        "teachers are not listed"
    );

    // Another class, imported; a deactivated student drops out.
    let csv = "login;name;role;class\nivanov;Иван Иванов;student;10B\npetrov;Пётр Петров;student;10B\n\
               orlov;Олег Орлов;student;10B\n";
    let imported = post(&server, "/api/admin/users/import", &admin, csv.as_bytes());
    assert_eq!(imported.status, 200, "{}", imported.text());
    let orlov = get(&server, "/api/admin/users?q=orlov", Some(&admin)).json()["users"][0]["id"]
        .as_i64()
        .expect("orlov");
    let deactivated = post(
        &server,
        &format!("/api/admin/users/{orlov}/deactivate"),
        &admin,
        b"",
    );
    assert_eq!(deactivated.status, 200, "{}", deactivated.text());

    let tenth = get(&server, "/api/students?class=10B", Some(&psychologist));
    assert_eq!(names(&tenth), ["Иван Иванов", "Пётр Петров"]);

    // By class, then by name.
    let everyone = students(&get(&server, "/api/students", Some(&teacher)));
    assert_eq!(everyone.len(), 32);
    let mut sorted = everyone.clone();
    sorted.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
    assert_eq!(everyone, sorted);
    assert_eq!(everyone[0], ("Иван Иванов".into(), "10B".into()));

    // Part of a name, in any case, alone or within a class.
    let by_name = |q: &str, class: &str| {
        names(&get(
            &server,
            &format!("/api/students?q={}&class={class}", encode(q)),
            Some(&teacher),
        ))
    };
    assert_eq!(by_name("ПЁТР", ""), ["Пётр Петров"]);
    assert_eq!(by_name("петр п", ""), ["Пётр Петров"], "ё typed as е");
    assert_eq!(by_name("  иванов ", ""), ["Иван Иванов"]);
    assert_eq!(by_name("ученик 2", "9A").len(), 11, "Ученик 2 and 20..29");
    assert_eq!(by_name("ученик 2", "10B"), Vec::<String>::new());
    assert_eq!(by_name("орлов", ""), Vec::<String>::new(), "inactive");
    assert_eq!(by_name("x", "11Z"), Vec::<String>::new(), "no such class");

    let long = get(
        &server,
        &format!("/api/students?q={}", "a".repeat(101)),
        Some(&teacher),
    );
    assert_eq!(long.status, 400);
    assert_eq!(long.json()["code"], "bad_request");

    // Staff read the classes too.
    let classes = get(&server, "/api/classes", Some(&teacher)).json();
    let classes: Vec<(String, i64)> = classes["classes"]
        .as_array()
        .expect("classes")
        .iter()
        .map(|c: &Value| {
            (
                c["class"].as_str().expect("class").to_string(),
                c["students"].as_i64().expect("count"),
            )
        })
        .collect();
    assert_eq!(classes, [("10B".into(), 2), ("9A".into(), 30)]);
}

#[test]
fn one_listing_holds_at_most_two_hundred_students() {
    let server = Server::start(ServerOptions::demo());
    let admin = server.login("admin", "demo");
    let teacher = server.login("teacher1", "demo");
    let mut csv = String::from("login;name;role;class\n");
    for n in 1..=205 {
        csv.push_str(&format!("big{n:03};Большой {n:03};student;11C\n"));
    }
    let imported = post(&server, "/api/admin/users/import", &admin, csv.as_bytes());
    assert_eq!(imported.status, 200, "{}", imported.text());

    let page = get(&server, "/api/students?class=11C", Some(&teacher));
    let listed = names(&page);
    assert_eq!(listed.len(), 200);
    assert_eq!(page.json()["more"], true);
    assert_eq!(listed[0], "Большой 001");
    assert_eq!(listed[199], "Большой 200");

    let everyone = get(&server, "/api/students", Some(&teacher));
    assert_eq!(names(&everyone).len(), 200);
    assert_eq!(everyone.json()["more"], true);

    let narrowed = get(
        &server,
        &format!("/api/students?class=11C&q={}", encode("большой 1")),
        Some(&teacher),
    );
    assert_eq!(names(&narrowed).len(), 100, "Большой 100..199");
    assert_eq!(narrowed.json()["more"], false);
}
