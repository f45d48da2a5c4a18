//! The JSON bodies the HTTP API takes, as typed values: `POST /api/login`, `POST
//! /api/admin/users`, `PUT /api/admin/subjects/{code}`, `PUT /api/admin/help-links`, and the
//! weekly hours of `PUT /api/hours` ([`crate::model::HoursSlot`]). Types only; the server checks
//! the values.

use serde::{Deserialize, Serialize};

/// `POST /api/login`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRequest {
    pub login: String,
    pub password: String,
    /// The device token of an earlier login, for clients that keep no cookies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_token: Option<String>,
    /// The code of the user's school; may be left out while the server has one school.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub school: Option<String>,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("login", &self.login)
            .field("school", &self.school)
            .finish_non_exhaustive()
    }
}

/// `POST /api/admin/users`: one account; the password is generated when absent or empty.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUserBody {
    pub login: String,
    pub name: String,
    /// `student`, `teacher`, `support` or `admin`.
    pub role: String,
    pub class: Option<String>,
    /// Subject codes; each may hold several separated by spaces, `;`, `,` or `|`.
    #[serde(default)]
    pub subjects: Vec<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for NewUserBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUserBody")
            .field("login", &self.login)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("class", &self.class)
            .field("subjects", &self.subjects)
            .finish_non_exhaustive()
    }
}

/// `PUT /api/admin/subjects/{code}`: the subject's name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectBody {
    pub name: String,
}

/// A link on `/help`; `PUT /api/admin/help-links` takes them in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelpLink {
    pub title: String,
    pub url: String,
}
