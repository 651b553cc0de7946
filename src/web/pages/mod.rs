//! Pages for people: the login, registration, verification, account, sign-in methods and
//! mailbox handlers. Their error type and rendering helpers are in `web::respond`.

pub mod account;
pub mod data;
mod deletion;
pub mod email;
pub mod factors;
pub mod identity;
pub mod legal;
pub mod login;
pub mod passkeys;
pub mod password;
pub mod postfach;
pub mod register;
pub mod upstream;
mod write;

/// The pages for people.
pub fn routes() -> axum::Router<super::state::AppState> {
    axum::Router::new()
        .merge(login::routes())
        .merge(register::routes())
        .merge(password::routes())
        .merge(factors::routes())
        .merge(passkeys::routes())
        .merge(identity::routes())
        .merge(upstream::routes())
        .merge(account::routes())
        .merge(postfach::routes())
        .merge(write::routes())
        .merge(legal::routes())
        .merge(data::routes())
        .merge(email::routes())
        .merge(deletion::routes())
}

pub use crate::domain::civil::{date_time, day};

/// A pending-request id from a form or query: URL-safe base64 of at most 64 characters.
#[must_use]
pub fn req_id(v: Option<&str>) -> String {
    v.filter(|r| {
        r.len() <= 64
            && r.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
    .unwrap_or("")
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times_are_german_civil_time() {
        let at = |y, m, d, h, min| {
            chrono::Utc
                .with_ymd_and_hms(y, m, d, h, min, 0)
                .single()
                .unwrap_or_default()
        };
        // Winter: UTC+1; summer: UTC+2; the switches at 01:00 UTC on the last Sundays.
        assert_eq!(date_time(at(2026, 12, 4, 17, 11)), "04.12.2026, 18:11");
        assert_eq!(date_time(at(2026, 7, 1, 10, 0)), "01.07.2026, 12:00");
        assert_eq!(date_time(at(2026, 3, 29, 0, 59)), "29.03.2026, 01:59");
        assert_eq!(date_time(at(2026, 3, 29, 1, 0)), "29.03.2026, 03:00");
        assert_eq!(date_time(at(2026, 10, 25, 0, 59)), "25.10.2026, 02:59");
        assert_eq!(date_time(at(2026, 10, 25, 1, 0)), "25.10.2026, 02:00");
        assert_eq!(day(at(2026, 12, 31, 23, 30)), "01.01.2027");
    }
}
