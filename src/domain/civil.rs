//! How people read times and browsers: German civil time and dates, a short name for a
//! browser. Pure, for pages and mails alike.

/// German civil time (Europe/Berlin): CET, and CEST from the last Sunday of March to the
/// last Sunday of October, switching at 01:00 UTC (EU rule since 1996).
#[must_use]
pub fn german_time(ts: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDateTime {
    use chrono::{Datelike, NaiveDate};
    let last_sunday = |month: u32| {
        let next = if month == 12 {
            NaiveDate::from_ymd_opt(ts.year() + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(ts.year(), month + 1, 1)
        };
        next.and_then(|d| d.pred_opt()).map(|last| {
            let back = last.weekday().num_days_from_sunday();
            last - chrono::Duration::days(i64::from(back))
        })
    };
    let switch = |month: u32| {
        last_sunday(month)
            .and_then(|d| d.and_hms_opt(1, 0, 0))
            .map(|n| n.and_utc())
    };
    let summer = matches!((switch(3), switch(10)), (Some(a), Some(b)) if ts >= a && ts < b);
    let offset = chrono::Duration::hours(if summer { 2 } else { 1 });
    ts.naive_utc() + offset
}

/// The start of `ts`'s day in German civil time, as a UTC instant.
#[must_use]
pub fn start_of_day(ts: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    let local = german_time(ts);
    let offset = local - ts.naive_utc();
    (local.date().and_time(chrono::NaiveTime::MIN) - offset).and_utc()
}

/// A time as pages show it: German civil time, `TT.MM.JJJJ, HH:MM` (the server keeps UTC).
#[must_use]
pub fn date_time(ts: chrono::DateTime<chrono::Utc>) -> String {
    german_time(ts).format("%d.%m.%Y, %H:%M").to_string()
}

/// A day as pages show it (in German civil time).
#[must_use]
pub fn day(ts: chrono::DateTime<chrono::Utc>) -> String {
    german_time(ts).format("%d.%m.%Y").to_string()
}

/// A short, recognisable name for a browser from its User-Agent ("Firefox, Windows"); the
/// start of an unknown one; `None` without one.
#[must_use]
pub fn browser_name(ua: &str) -> Option<String> {
    let name = ["Edg/", "Firefox/", "Chrome/", "Safari/"]
        .iter()
        .find(|m| ua.contains(*m))
        .map(|m| match *m {
            "Edg/" => "Edge",
            "Firefox/" => "Firefox",
            "Chrome/" => "Chrome",
            _ => "Safari",
        });
    let os = ["Windows", "Android", "iPhone", "Mac OS", "Linux"]
        .iter()
        .find(|o| ua.contains(*o))
        .copied();
    match (name, os) {
        (Some(n), Some(o)) => Some(format!("{n}, {o}")),
        (Some(n), None) => Some(n.to_owned()),
        _ if !ua.is_empty() => Some(ua.chars().take(60).collect()),
        _ => None,
    }
}
