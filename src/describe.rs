//! Human descriptions of schedules, in English and Russian.
//!
//! A description names everything that decides when occurrences happen: the recurrence, the
//! time of day and zone, the end, the overflow policy where it changes dates (days 29 to 31,
//! February 29), the adjustment of days off, and how many occurrences were skipped, moved or
//! added. Rules outside the structured vocabulary are quoted as RFC 5545 text.

use crate::zone::Zone;
use chrono::{Month, NaiveDate, NaiveTime, Timelike, Weekday};
use serde::{Deserialize, Serialize};

use crate::calendar::Adjustment;
use crate::civil;
use crate::schedule::recurrence::{Interval, Lead, MonthDay, Ordinal, Overflow, Recurrence};
use crate::schedule::{End, Schedule};

/// The language of [`Schedule::describe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Locale {
    /// English.
    En,
    /// Russian.
    Ru,
}

impl Locale {
    /// Chooses the form of a noun that agrees with the number `n`; `forms` are
    /// `[one, few, many]`.
    ///
    /// Russian: `one` for 1, 21, 31, … (but not 11), `few` for 2–4, 22–24, … (but not 12–14),
    /// `many` for the rest (0, 5–20, 25–30, …). English has no `few`: `one` for 1, `many`
    /// otherwise.
    ///
    /// ```
    /// use recurring_deals::Locale;
    ///
    /// let times = |n| format!("{n} {}", Locale::Ru.plural(n, ["раз", "раза", "раз"]));
    /// assert_eq!(times(22), "22 раза");
    /// assert_eq!(times(11), "11 раз");
    /// assert_eq!(Locale::En.plural(2, ["day", "days", "days"]), "days");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn plural(self, n: u64, forms: [&str; 3]) -> &str {
        let [one, few, many] = forms;
        match self {
            Locale::En if n == 1 => one,
            Locale::En => many,
            Locale::Ru => {
                let (last, last_two) = (n % 10, n % 100);
                if last == 1 && last_two != 11 {
                    one
                } else if (2..=4).contains(&last) && !(12..=14).contains(&last_two) {
                    few
                } else {
                    many
                }
            }
        }
    }
}

impl Schedule {
    /// Describes the schedule in words: the recurrence, the time of day and zone, the end,
    /// what happens in months that lack the day (when some do), the adjustment of days off
    /// and the number of skipped, moved and added occurrences.
    ///
    /// A general RFC 5545 rule (one [`Schedule::recurrence`] does not cover) is quoted
    /// without its `COUNT`/`UNTIL`, which are described as the end.
    ///
    /// ```
    /// use chrono::{NaiveDate, Weekday};
    /// use recurring_deals::{End, Interval, Locale, Recurrence, Schedule, WeekdaySet, Zone};
    ///
    /// let start = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap().and_hms_opt(9, 0, 0).unwrap();
    /// let schedule = Schedule::builder(
    ///     Recurrence::weekly(Interval::new(2)?, WeekdaySet::new([Weekday::Mon, Weekday::Fri])?),
    ///     start,
    ///     Zone::get("Europe/Moscow")?,
    /// )
    /// .end(End::Count(10))
    /// .build()?;
    /// assert_eq!(
    ///     schedule.describe(Locale::En),
    ///     "every 2 weeks on Monday and Friday at 09:00 (Europe/Moscow), 10 times"
    /// );
    /// assert_eq!(
    ///     schedule.describe(Locale::Ru),
    ///     "каждые 2 недели по понедельникам и пятницам в 09:00 (Europe/Moscow), 10 раз"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn describe(&self, locale: Locale) -> String {
        let words: &dyn Words = match locale {
            Locale::En => &English,
            Locale::Ru => &Russian,
        };
        let at = words.at(&clock(self.time()), self.zone().name());
        let mut parts = Vec::new();
        match self.recurrence() {
            Some(&Recurrence::Once { date, lead }) => {
                parts.push(format!("{} {at}", words.once(date)));
                // A one-off has one occurrence whatever its end says (an end that cut it off
                // would leave no occurrence, and such a schedule is not built).
                parts.extend(lead_days(lead).map(|(n, unit)| words.lead(n, unit)));
            }
            Some(recurrence) => {
                parts.push(format!(
                    "{} {at}",
                    words.recurrence(recurrence, self.overflow())
                ));
                parts.extend(end(self.end(), self.zone()).map(|end| words.end(end)));
            }
            None => {
                parts.push(format!("{} {at}", words.general(&general_rule(self))));
                parts.extend(end(self.end(), self.zone()).map(|end| words.end(end)));
            }
        }
        parts.extend(words.adjustment(self.adjustment()));
        let exceptions = [
            (
                Change::Skipped,
                self.skipped().count() + self.skipped_instants().count(),
            ),
            (Change::Moved, self.moved().count()),
            (
                Change::Added,
                self.extra().count() + self.extra_instants().count(),
            ),
        ];
        for (change, n) in exceptions {
            if n > 0 {
                parts.push(words.changed(change, n as u64));
            }
        }
        parts.join(", ")
    }
}

/// The phrases of one language. Each method matches the enums it describes exhaustively, so a
/// new variant is a compile error here rather than a silent gap in a description.
trait Words {
    fn plural<'a>(&self, n: u64, forms: [&'a str; 3]) -> &'a str;
    fn recurrence(&self, recurrence: &Recurrence, overflow: Overflow) -> String;
    fn once(&self, date: NaiveDate) -> String;
    fn general(&self, rule: &str) -> String;
    fn at(&self, time: &str, zone: &str) -> String;
    fn end(&self, end: EndWords) -> String;
    fn lead(&self, n: u32, unit: Unit) -> String;
    fn adjustment(&self, adjustment: Adjustment) -> Option<String>;
    fn changed(&self, change: Change, n: u64) -> String;
}

/// The units of intervals and lead times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    Day,
    WorkingDay,
    Week,
    Month,
    Year,
}

/// The kinds of exceptions counted in a description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Skipped,
    Moved,
    Added,
}

/// An end as it is told: a number of occurrences or a last date (and time).
#[derive(Debug, Clone, PartialEq, Eq)]
enum EndWords {
    Count(u32),
    Until(String),
}

/// The end of a series in words, if it has one. An instant is told in the schedule's zone,
/// and the last second of a day as the day alone: the RFC 5545 writer stores an end date
/// that way, so a schedule read back is described as it was written.
fn end(end: End, zone: Zone) -> Option<EndWords> {
    match end {
        End::Never => None,
        End::Count(n) => Some(EndWords::Count(n)),
        End::Until(date) => Some(EndWords::Until(date.to_string())),
        End::UntilInstant(t) => {
            let local = zone.to_local(t);
            let end_of_day = NaiveTime::from_hms_opt(23, 59, 59);
            Some(EndWords::Until(if Some(local.time()) == end_of_day {
                local.date().to_string()
            } else {
                format!("{} {}", local.date(), clock(local.time()))
            }))
        }
    }
}

/// A lead time as a number and unit, or `None` when the occurrence is created on its date.
fn lead_days(lead: Lead) -> Option<(u32, Unit)> {
    let (n, unit) = match lead {
        Lead::None => return None,
        Lead::Days(n) => (n, Unit::Day),
        Lead::Weeks(n) => (n, Unit::Week),
        Lead::Months(n) => (n, Unit::Month),
    };
    (n > 0).then_some((n, unit))
}

/// `HH:MM`, or `HH:MM:SS` when the seconds matter.
fn clock(time: NaiveTime) -> String {
    if time.second() == 0 {
        time.format("%H:%M").to_string()
    } else {
        time.format("%H:%M:%S").to_string()
    }
}

/// The RRULE of a general rule without COUNT and UNTIL (the end is described on its own).
fn general_rule(schedule: &Schedule) -> String {
    let text = schedule.to_rrule();
    let rule = text
        .lines()
        .find_map(|line| line.strip_prefix("RRULE:"))
        .unwrap_or_default();
    rule.split(';')
        .filter(|part| !part.starts_with("COUNT=") && !part.starts_with("UNTIL="))
        .collect::<Vec<_>>()
        .join(";")
}

/// Whether a month-day rule lands on a day some of its months lack, so that the overflow
/// policy changes dates: days 29 to 31 in monthly rules, February 29 in yearly ones.
fn overflow_matters(recurrence: &Recurrence) -> bool {
    match *recurrence {
        Recurrence::Month {
            on: MonthDay::Day(day),
            ..
        } => day.get() > 28,
        Recurrence::Year {
            month,
            on: MonthDay::Day(day),
            ..
        } => day.get() > civil::days_in_month(2001, month.number_from_month()),
        Recurrence::Month { .. }
        | Recurrence::Year { .. }
        | Recurrence::Day { .. }
        | Recurrence::WorkingDay { .. }
        | Recurrence::Week { .. }
        | Recurrence::Once { .. } => false,
    }
}

/// Joins items as a list: `a`, `a and b`, `a, b and c`.
fn list(items: &[&str], and: &str) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} {and} {last}", init.join(", ")),
    }
}

struct English;

impl English {
    fn every(&self, interval: Interval, unit: Unit) -> String {
        let (one, many) = match unit {
            Unit::Day => ("day", "days"),
            Unit::WorkingDay => ("working day", "working days"),
            Unit::Week => ("week", "weeks"),
            Unit::Month => ("month", "months"),
            Unit::Year => ("year", "years"),
        };
        match interval.get() {
            1 => format!("every {one}"),
            n => format!("every {n} {}", self.plural(u64::from(n), [one, many, many])),
        }
    }

    fn month_day(&self, on: MonthDay) -> String {
        match on {
            MonthDay::Day(day) => format!("the {}", numbered(day.get())),
            MonthDay::LastDay => "the last day".to_owned(),
            MonthDay::Weekday { ordinal, weekday } => {
                format!(
                    "the {} {}",
                    english_ordinal(ordinal),
                    english_weekday(weekday)
                )
            }
            MonthDay::WorkingDay(n) => format!("the {} working day", numbered(n.get())),
        }
    }
}

impl Words for English {
    fn plural<'a>(&self, n: u64, forms: [&'a str; 3]) -> &'a str {
        Locale::En.plural(n, forms)
    }

    fn recurrence(&self, recurrence: &Recurrence, overflow: Overflow) -> String {
        let mut text = match *recurrence {
            Recurrence::Day { interval } => self.every(interval, Unit::Day),
            Recurrence::WorkingDay { interval } => self.every(interval, Unit::WorkingDay),
            Recurrence::Week {
                interval,
                on,
                week_start,
            } => {
                let days: Vec<&str> = on.iter().map(english_weekday).collect();
                let mut text = format!(
                    "{} on {}",
                    self.every(interval, Unit::Week),
                    list(&days, "and")
                );
                // The week start only decides which weeks count when weeks are skipped.
                if interval.get() > 1 && week_start != Weekday::Mon {
                    text += &format!(" (weeks start on {})", english_weekday(week_start));
                }
                text
            }
            Recurrence::Month { interval, on } => {
                format!(
                    "{} on {}",
                    self.every(interval, Unit::Month),
                    self.month_day(on)
                )
            }
            Recurrence::Year {
                interval,
                month,
                on,
            } => {
                let every = self.every(interval, Unit::Year);
                match on {
                    MonthDay::Day(day) => format!("{every} on {} {}", month.name(), day.get()),
                    MonthDay::LastDay | MonthDay::Weekday { .. } | MonthDay::WorkingDay(_) => {
                        format!("{every} on {} of {}", self.month_day(on), month.name())
                    }
                }
            }
            Recurrence::Once { date, .. } => return self.once(date),
        };
        if overflow_matters(recurrence) {
            let yearly = matches!(recurrence, Recurrence::Year { .. });
            text += match (overflow, yearly) {
                (Overflow::Clamp, false) => " (the last day in shorter months)",
                (Overflow::Clamp, true) => " (February 28 in common years)",
                (Overflow::Skip, false) => " (months without this day are skipped)",
                (Overflow::Skip, true) => " (only in leap years)",
            };
        }
        text
    }

    fn once(&self, date: NaiveDate) -> String {
        format!("once on {date}")
    }

    fn general(&self, rule: &str) -> String {
        format!("by the rule {rule}")
    }

    fn at(&self, time: &str, zone: &str) -> String {
        format!("at {time} ({zone})")
    }

    fn end(&self, end: EndWords) -> String {
        match end {
            EndWords::Count(1) => "once".to_owned(),
            EndWords::Count(n) => {
                format!(
                    "{n} {}",
                    self.plural(u64::from(n), ["time", "times", "times"])
                )
            }
            EndWords::Until(last) => format!("until {last}"),
        }
    }

    fn lead(&self, n: u32, unit: Unit) -> String {
        let (one, many) = match unit {
            Unit::Day => ("day", "days"),
            Unit::WorkingDay => ("working day", "working days"),
            Unit::Week => ("week", "weeks"),
            Unit::Month => ("month", "months"),
            Unit::Year => ("year", "years"),
        };
        let unit = self.plural(u64::from(n), [one, many, many]);
        format!("created {n} {unit} before")
    }

    fn adjustment(&self, adjustment: Adjustment) -> Option<String> {
        let text = match adjustment {
            Adjustment::None => return None,
            Adjustment::Following => "moved to the next working day when on a day off",
            Adjustment::Preceding => "moved to the previous working day when on a day off",
            Adjustment::ModifiedFollowing => {
                "moved to the next working day when on a day off \
                 (to the previous one if the next is in another month)"
            }
        };
        Some(text.to_owned())
    }

    fn changed(&self, change: Change, n: u64) -> String {
        let what = match change {
            Change::Skipped => "skipped",
            Change::Moved => "moved",
            Change::Added => "added",
        };
        let noun = self.plural(n, ["occurrence", "occurrences", "occurrences"]);
        format!("{n} {noun} {what}")
    }
}

/// `1st`, `2nd`, `3rd`, `4th`, `11th`, `21st`, …
fn numbered(n: u32) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn english_ordinal(ordinal: Ordinal) -> &'static str {
    match ordinal {
        Ordinal::First => "first",
        Ordinal::Second => "second",
        Ordinal::Third => "third",
        Ordinal::Fourth => "fourth",
        Ordinal::Last => "last",
    }
}

fn english_weekday(weekday: Weekday) -> &'static str {
    match weekday {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

struct Russian;

impl Russian {
    /// "ежедневно", "каждые 2 дня", "каждый 21 день", "каждую 21 неделю": the pronoun agrees
    /// with the noun as the numeral leaves it (singular after 21, 31, …).
    fn every(&self, interval: Interval, unit: Unit) -> String {
        let n = interval.get();
        if n == 1 {
            return match unit {
                Unit::Day => "ежедневно",
                Unit::WorkingDay => "каждый рабочий день",
                Unit::Week => "еженедельно",
                Unit::Month => "ежемесячно",
                Unit::Year => "ежегодно",
            }
            .to_owned();
        }
        let (each, forms) = match unit {
            Unit::Day => ("каждый", ["день", "дня", "дней"]),
            Unit::WorkingDay => ("каждый", ["рабочий день", "рабочих дня", "рабочих дней"]),
            Unit::Week => ("каждую", ["неделю", "недели", "недель"]),
            Unit::Month => ("каждый", ["месяц", "месяца", "месяцев"]),
            Unit::Year => ("каждый", ["год", "года", "лет"]),
        };
        let n = u64::from(n);
        let each = self.plural(n, [each, "каждые", "каждые"]);
        format!("{each} {n} {}", self.plural(n, forms))
    }

    /// The day of a month after "ежемесячно" or before a month's name in the genitive.
    fn month_day(&self, on: MonthDay) -> String {
        match on {
            MonthDay::Day(day) => format!("{}-го числа", day.get()),
            MonthDay::LastDay => "в последний день".to_owned(),
            MonthDay::Weekday { ordinal, weekday } => {
                let (noun, gender) = russian_weekday(weekday);
                let ordinal = russian_ordinal(ordinal, gender);
                format!("{} {ordinal} {noun}", preposition_v(ordinal))
            }
            MonthDay::WorkingDay(n) => format!("в {}-й рабочий день", n.get()),
        }
    }
}

impl Words for Russian {
    fn plural<'a>(&self, n: u64, forms: [&'a str; 3]) -> &'a str {
        Locale::Ru.plural(n, forms)
    }

    fn recurrence(&self, recurrence: &Recurrence, overflow: Overflow) -> String {
        let mut text = match *recurrence {
            Recurrence::Day { interval } => self.every(interval, Unit::Day),
            Recurrence::WorkingDay { interval } => self.every(interval, Unit::WorkingDay),
            Recurrence::Week {
                interval,
                on,
                week_start,
            } => {
                let days: Vec<&str> = on.iter().map(russian_weekdays_dative).collect();
                let mut text = format!(
                    "{} по {}",
                    self.every(interval, Unit::Week),
                    list(&days, "и")
                );
                // The week start only decides which weeks count when weeks are skipped.
                if interval.get() > 1 && week_start != Weekday::Mon {
                    text += &format!(
                        " (неделя начинается с {})",
                        russian_weekday_genitive(week_start)
                    );
                }
                text
            }
            Recurrence::Month { interval, on } => {
                let every = self.every(interval, Unit::Month);
                match on {
                    MonthDay::LastDay => format!("{every} в последний день месяца"),
                    MonthDay::Day(_) | MonthDay::Weekday { .. } | MonthDay::WorkingDay(_) => {
                        format!("{every} {}", self.month_day(on))
                    }
                }
            }
            Recurrence::Year {
                interval,
                month,
                on,
            } => {
                let every = self.every(interval, Unit::Year);
                let month = russian_month_genitive(month);
                match on {
                    MonthDay::Day(day) => format!("{every} {} {month}", day.get()),
                    MonthDay::LastDay | MonthDay::Weekday { .. } | MonthDay::WorkingDay(_) => {
                        format!("{every} {} {month}", self.month_day(on))
                    }
                }
            }
            Recurrence::Once { date, .. } => return self.once(date),
        };
        if overflow_matters(recurrence) {
            let yearly = matches!(recurrence, Recurrence::Year { .. });
            text += match (overflow, yearly) {
                (Overflow::Clamp, false) => " (в последний день, если в месяце меньше дней)",
                (Overflow::Clamp, true) => " (28 февраля в невисокосные годы)",
                (Overflow::Skip, false) => " (месяцы без этого числа пропускаются)",
                (Overflow::Skip, true) => " (только в високосные годы)",
            };
        }
        text
    }

    fn once(&self, date: NaiveDate) -> String {
        format!("однократно {date}")
    }

    fn general(&self, rule: &str) -> String {
        format!("по правилу {rule}")
    }

    fn at(&self, time: &str, zone: &str) -> String {
        format!("в {time} ({zone})")
    }

    fn end(&self, end: EndWords) -> String {
        match end {
            EndWords::Count(n) => {
                format!("{n} {}", self.plural(u64::from(n), ["раз", "раза", "раз"]))
            }
            EndWords::Until(last) => format!("до {last} включительно"),
        }
    }

    fn lead(&self, n: u32, unit: Unit) -> String {
        // "за" takes the accusative: "за 1 неделю".
        let forms = match unit {
            Unit::Day => ["день", "дня", "дней"],
            Unit::WorkingDay => ["рабочий день", "рабочих дня", "рабочих дней"],
            Unit::Week => ["неделю", "недели", "недель"],
            Unit::Month => ["месяц", "месяца", "месяцев"],
            Unit::Year => ["год", "года", "лет"],
        };
        format!("создаётся за {n} {}", self.plural(u64::from(n), forms))
    }

    fn adjustment(&self, adjustment: Adjustment) -> Option<String> {
        let text = match adjustment {
            Adjustment::None => return None,
            Adjustment::Following => "с переносом с выходного на следующий рабочий день",
            Adjustment::Preceding => "с переносом с выходного на предыдущий рабочий день",
            Adjustment::ModifiedFollowing => {
                "с переносом с выходного на следующий рабочий день \
                 (на предыдущий, если следующий — в другом месяце)"
            }
        };
        Some(text.to_owned())
    }

    fn changed(&self, change: Change, n: u64) -> String {
        // The neuter singular agrees with any numeral: "пропущено 2 повторения".
        let what = match change {
            Change::Skipped => "пропущено",
            Change::Moved => "перенесено",
            Change::Added => "добавлено",
        };
        let noun = self.plural(n, ["повторение", "повторения", "повторений"]);
        format!("{what} {n} {noun}")
    }
}

/// Grammatical gender of a Russian noun, which ordinals agree with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gender {
    Masculine,
    Feminine,
    Neuter,
}

/// A weekday in the accusative ("в пятницу") and its gender.
fn russian_weekday(weekday: Weekday) -> (&'static str, Gender) {
    match weekday {
        Weekday::Mon => ("понедельник", Gender::Masculine),
        Weekday::Tue => ("вторник", Gender::Masculine),
        Weekday::Wed => ("среду", Gender::Feminine),
        Weekday::Thu => ("четверг", Gender::Masculine),
        Weekday::Fri => ("пятницу", Gender::Feminine),
        Weekday::Sat => ("субботу", Gender::Feminine),
        Weekday::Sun => ("воскресенье", Gender::Neuter),
    }
}

/// An ordinal in the accusative, agreeing with the weekday's gender.
fn russian_ordinal(ordinal: Ordinal, gender: Gender) -> &'static str {
    let [masculine, feminine, neuter] = match ordinal {
        Ordinal::First => ["первый", "первую", "первое"],
        Ordinal::Second => ["второй", "вторую", "второе"],
        Ordinal::Third => ["третий", "третью", "третье"],
        Ordinal::Fourth => ["четвёртый", "четвёртую", "четвёртое"],
        Ordinal::Last => ["последний", "последнюю", "последнее"],
    };
    match gender {
        Gender::Masculine => masculine,
        Gender::Feminine => feminine,
        Gender::Neuter => neuter,
    }
}

/// "в", or "во" before a word that starts with "в" and a consonant ("во второй", "во вторник").
fn preposition_v(next: &str) -> &'static str {
    let mut letters = next.chars();
    let vowel = |c: char| "аеёиоуыэюя".contains(c);
    match (letters.next(), letters.next()) {
        (Some('в'), Some(second)) if !vowel(second) => "во",
        _ => "в",
    }
}

/// "по понедельникам": the dative plural.
fn russian_weekdays_dative(weekday: Weekday) -> &'static str {
    match weekday {
        Weekday::Mon => "понедельникам",
        Weekday::Tue => "вторникам",
        Weekday::Wed => "средам",
        Weekday::Thu => "четвергам",
        Weekday::Fri => "пятницам",
        Weekday::Sat => "субботам",
        Weekday::Sun => "воскресеньям",
    }
}

/// "с воскресенья": the genitive.
fn russian_weekday_genitive(weekday: Weekday) -> &'static str {
    match weekday {
        Weekday::Mon => "понедельника",
        Weekday::Tue => "вторника",
        Weekday::Wed => "среды",
        Weekday::Thu => "четверга",
        Weekday::Fri => "пятницы",
        Weekday::Sat => "субботы",
        Weekday::Sun => "воскресенья",
    }
}

/// "15 марта": the genitive.
fn russian_month_genitive(month: Month) -> &'static str {
    match month {
        Month::January => "января",
        Month::February => "февраля",
        Month::March => "марта",
        Month::April => "апреля",
        Month::May => "мая",
        Month::June => "июня",
        Month::July => "июля",
        Month::August => "августа",
        Month::September => "сентября",
        Month::October => "октября",
        Month::November => "ноября",
        Month::December => "декабря",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_ordinal_suffixes() {
        let got: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31]
            .into_iter()
            .map(numbered)
            .collect();
        assert_eq!(
            got,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "31st"
            ]
        );
    }

    #[test]
    fn vo_before_v_and_a_consonant() {
        assert_eq!(preposition_v("второй"), "во");
        assert_eq!(preposition_v("вторник"), "во");
        assert_eq!(preposition_v("первый"), "в");
        assert_eq!(preposition_v("последнюю"), "в");
        assert_eq!(preposition_v("воскресенье"), "в");
    }

    #[test]
    fn list_joins_with_and() {
        assert_eq!(list(&["a"], "and"), "a");
        assert_eq!(list(&["a", "b"], "и"), "a и b");
        assert_eq!(list(&["a", "b", "c"], "and"), "a, b and c");
    }
}
