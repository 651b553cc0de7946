//! When a message placed in the mailbox counts as announced (*Bekanntgabefiktion*), under
//! the rule the Verbund's law sets. Pure date arithmetic in German civil time.
//!
//! - [`Basis::Provided`], § 9 Abs. 1 OZG (the default): the third day after the message was
//!   made available (*bereitgestellt*).
//! - [`Basis::Notified`], Art. 24 Abs. 2 BayDiG: the third day after the notification about it
//!   was sent (*benachrichtigt*); none before that.
//! - [`Basis::Retrieved`], § 41 Abs. 2a VwVfG: the day after the first retrieval (*erster
//!   Abruf*); none before that.
//!
//! Whether a date that falls on a Saturday, Sunday or public holiday moves to the next working
//! day is the operator's (legal) choice: the statutes' wording has no such rule, courts differ
//! (the BFH moves it for the AO). Nationwide holidays are built in; a Land adds its own.

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc, Weekday};
use serde::Serialize;

/// Which event starts the count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    Provided,
    Notified,
    Retrieved,
}

/// A configured rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Its name in the configuration and in the evidence (`ozg`, `baydig`, `vwvfg`).
    pub name: &'static str,
    /// The law it follows, for people.
    pub citation: &'static str,
    pub basis: Basis,
    /// Days after the basis (3: "am dritten Tag nach").
    pub days: u64,
    /// Move a date on a Saturday, Sunday or holiday to the next working day.
    pub next_working_day: bool,
    /// Holidays besides the nationwide ones (a Land's, e.g. 2026-11-18 in Sachsen).
    pub extra_holidays: Vec<NaiveDate>,
}

impl Rule {
    /// The rule by its configured name.
    #[must_use]
    pub fn named(name: &str) -> Option<Self> {
        let (name, citation, basis, days) = match name {
            "ozg" => ("ozg", "§ 9 Abs. 1 OZG", Basis::Provided, 3),
            "baydig" => ("baydig", "Art. 24 Abs. 2 BayDiG", Basis::Notified, 3),
            "vwvfg" => ("vwvfg", "§ 41 Abs. 2a VwVfG", Basis::Retrieved, 1),
            _ => return None,
        };
        Some(Self {
            name,
            citation,
            basis,
            days,
            next_working_day: false,
            extra_holidays: Vec::new(),
        })
    }

    /// The day the message counts as announced, given when it was provided, notified and
    /// first retrieved; `None` while the basis has not happened.
    #[must_use]
    pub fn announced_on(
        &self,
        provided: DateTime<Utc>,
        notified: Option<DateTime<Utc>>,
        retrieved: Option<DateTime<Utc>>,
    ) -> Option<NaiveDate> {
        let basis = match self.basis {
            Basis::Provided => Some(provided),
            Basis::Notified => notified,
            Basis::Retrieved => retrieved,
        }?;
        let mut day = german_date(basis).checked_add_days(Days::new(self.days))?;
        if self.next_working_day {
            while !self.is_working_day(day) {
                day = day.succ_opt()?;
            }
        }
        Some(day)
    }

    /// Not a Saturday, Sunday, nationwide or configured holiday.
    #[must_use]
    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
            && !is_national_holiday(d)
            && !self.extra_holidays.contains(&d)
    }
}

/// The calendar day in Germany.
#[must_use]
pub fn german_date(t: DateTime<Utc>) -> NaiveDate {
    super::civil::german_time(t).date()
}

/// Easter Sunday (Gregorian, the anonymous algorithm of Meeus/Jones/Butcher).
fn easter(year: i32) -> Option<NaiveDate> {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

/// The holidays of every Land: New Year, Good Friday, Easter Monday, 1 May, Ascension,
/// Whit Monday, 3 October, Christmas Day and 26 December.
#[must_use]
pub fn is_national_holiday(d: NaiveDate) -> bool {
    if matches!(
        (d.month(), d.day()),
        (1, 1) | (5, 1) | (10, 3) | (12, 25) | (12, 26)
    ) {
        return true;
    }
    let Some(e) = easter(d.year()) else {
        return false;
    };
    let offset = (d - e).num_days();
    matches!(offset, -2 | 1 | 39 | 50)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_default()
    }
    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    #[test]
    fn easter_and_the_moving_holidays() {
        assert_eq!(easter(2026), Some(day("2026-04-05")));
        assert_eq!(easter(2027), Some(day("2027-03-28")));
        assert!(is_national_holiday(day("2026-04-03"))); // Good Friday
        assert!(is_national_holiday(day("2026-05-14"))); // Ascension
        assert!(is_national_holiday(day("2026-05-25"))); // Whit Monday
        assert!(!is_national_holiday(day("2026-06-04"))); // Corpus Christi: not everywhere
    }

    #[test]
    fn german_civil_date_at_midnight_and_across_the_clock_change() {
        // 23:30 UTC on 31 December is already New Year in Germany (CET).
        assert_eq!(german_date(at("2026-12-31T23:30:00Z")), day("2027-01-01"));
        // 22:30 UTC in July is 00:30 the next day (CEST).
        assert_eq!(german_date(at("2026-07-10T22:30:00Z")), day("2026-07-11"));
        assert_eq!(german_date(at("2026-10-25T00:59:00Z")), day("2026-10-25"));
        assert_eq!(german_date(at("2026-10-24T22:30:00Z")), day("2026-10-25"));
        assert_eq!(german_date(at("2026-10-25T22:30:00Z")), day("2026-10-25"));
    }

    #[test]
    fn the_federal_rule_counts_three_days_from_provision() {
        let ozg = Rule::named("ozg").unwrap_or_else(|| unreachable!());
        // Wednesday 2 December 2026 → Saturday 5 December: no shift by default.
        assert_eq!(
            ozg.announced_on(at("2026-12-02T10:00:00Z"), None, None),
            Some(day("2026-12-05"))
        );
        // Across the year end: 30 December → 2 January 2027 (a Saturday).
        assert_eq!(
            ozg.announced_on(at("2026-12-30T10:00:00Z"), None, None),
            Some(day("2027-01-02"))
        );
    }

    #[test]
    fn the_working_day_shift_skips_weekends_and_holidays() {
        let mut ozg = Rule::named("ozg").unwrap_or_else(|| unreachable!());
        ozg.next_working_day = true;
        // Saturday 5 December → Monday 7 December.
        assert_eq!(
            ozg.announced_on(at("2026-12-02T10:00:00Z"), None, None),
            Some(day("2026-12-07"))
        );
        // 29 December → 1 January (holiday) → Saturday, Sunday → Monday 4 January 2027.
        assert_eq!(
            ozg.announced_on(at("2026-12-29T10:00:00Z"), None, None),
            Some(day("2027-01-04"))
        );
        // 23 December → 26 December (holiday, Saturday) → Monday 28 December.
        assert_eq!(
            ozg.announced_on(at("2026-12-23T10:00:00Z"), None, None),
            Some(day("2026-12-28"))
        );
        // A Land's holiday (Buß- und Bettag in Sachsen, Wednesday 18 November 2026).
        ozg.extra_holidays = vec![day("2026-11-18")];
        assert_eq!(
            ozg.announced_on(at("2026-11-15T10:00:00Z"), None, None),
            Some(day("2026-11-19"))
        );
    }

    #[test]
    fn the_bavarian_rule_counts_from_the_notification_and_vwvfg_from_retrieval() {
        let bay = Rule::named("baydig").unwrap_or_else(|| unreachable!());
        let provided = at("2026-12-28T09:00:00Z");
        assert_eq!(bay.announced_on(provided, None, None), None);
        assert_eq!(
            bay.announced_on(provided, Some(at("2026-12-29T23:30:00Z")), None),
            Some(day("2027-01-02")),
            "notified at 00:30 on 30 December in Germany"
        );
        let vwvfg = Rule::named("vwvfg").unwrap_or_else(|| unreachable!());
        assert_eq!(vwvfg.announced_on(provided, None, None), None);
        assert_eq!(
            vwvfg.announced_on(provided, None, Some(at("2026-12-31T12:00:00Z"))),
            Some(day("2027-01-01"))
        );
        assert!(Rule::named("bw").is_none());
    }
}
