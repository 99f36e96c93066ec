//! `Schedule::describe` in English and Russian: a table of descriptions typed by hand as a
//! native speaker would write them, the Russian plural rule checked against its definition,
//! and descriptions that survive an RFC 5545 round trip.

use chrono::{Month, NaiveDate, NaiveDateTime, Weekday};
use recurring_deals::Zone;
use recurring_deals::{
    Adjustment, DayOfMonth, End, Interval, Lead, Locale, MonthDay, Ordinal, Overflow, Recurrence,
    Schedule, ScheduleBuilder, WeekdaySet, WorkingDayNumber,
};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
    date(y, m, d).and_hms_opt(h, min, 0).unwrap()
}

fn every(n: u32) -> Interval {
    Interval::new(n).unwrap()
}

fn builder(recurrence: Recurrence, start: NaiveDateTime, zone: Zone) -> ScheduleBuilder {
    Schedule::builder(recurrence, start, zone)
}

fn monthly(n: u32, on: MonthDay) -> Recurrence {
    Recurrence::monthly(every(n), on)
}

fn day_of_month(d: u32) -> MonthDay {
    MonthDay::Day(DayOfMonth::new(d).unwrap())
}

fn nth(ordinal: Ordinal, weekday: Weekday) -> MonthDay {
    MonthDay::Weekday { ordinal, weekday }
}

/// One row: a schedule and its expected English and Russian descriptions.
struct Case {
    schedule: Schedule,
    en: &'static str,
    ru: &'static str,
}

fn case(schedule: Schedule, en: &'static str, ru: &'static str) -> Case {
    Case { schedule, en, ru }
}

/// Schedules built in code, covering every recurrence, month day, ordinal, weekday form,
/// end, overflow case, adjustment, lead unit and exception kind.
fn built_cases() -> Result<Vec<Case>> {
    let mon_fri = WeekdaySet::new([Weekday::Mon, Weekday::Fri])?;
    let mon_wed_fri = WeekdaySet::new([Weekday::Fri, Weekday::Wed, Weekday::Mon])?;
    let start = at(2026, 1, 5, 9, 0);
    Ok(vec![
        case(
            builder(Recurrence::weekly(every(2), mon_fri), start, moscow())
                .end(End::Count(10))
                .build()?,
            "every 2 weeks on Monday and Friday at 09:00 (Europe/Moscow), 10 times",
            "каждые 2 недели по понедельникам и пятницам в 09:00 (Europe/Moscow), 10 раз",
        ),
        case(
            builder(Recurrence::weekly(every(1), mon_wed_fri), start, moscow()).build()?,
            "every week on Monday, Wednesday and Friday at 09:00 (Europe/Moscow)",
            "еженедельно по понедельникам, средам и пятницам в 09:00 (Europe/Moscow)",
        ),
        case(
            builder(
                Recurrence::weekly(every(1), WeekdaySet::single(Weekday::Tue)),
                start,
                moscow(),
            )
            .end(End::Count(1))
            .build()?,
            "every week on Tuesday at 09:00 (Europe/Moscow), once",
            "еженедельно по вторникам в 09:00 (Europe/Moscow), 1 раз",
        ),
        case(
            builder(
                Recurrence::Week {
                    interval: every(3),
                    on: WeekdaySet::new([Weekday::Sat, Weekday::Sun])?,
                    week_start: Weekday::Sun,
                },
                start,
                moscow(),
            )
            .build()?,
            "every 3 weeks on Saturday and Sunday (weeks start on Sunday) at 09:00 (Europe/Moscow)",
            "каждые 3 недели по субботам и воскресеньям (неделя начинается с воскресенья) \
             в 09:00 (Europe/Moscow)",
        ),
        case(
            builder(
                monthly(1, day_of_month(31)),
                at(2026, 1, 31, 9, 0),
                moscow(),
            )
            .end(End::Until(date(2026, 12, 31)))
            .build()?,
            "every month on the 31st (the last day in shorter months) at 09:00 (Europe/Moscow), \
             until 2026-12-31",
            "ежемесячно 31-го числа (в последний день, если в месяце меньше дней) \
             в 09:00 (Europe/Moscow), до 2026-12-31 включительно",
        ),
        case(
            builder(
                monthly(2, day_of_month(30)),
                at(2025, 12, 30, 9, 0),
                moscow(),
            )
            .overflow(Overflow::Skip)
            .end(End::Count(22))
            .build()?,
            "every 2 months on the 30th (months without this day are skipped) \
             at 09:00 (Europe/Moscow), 22 times",
            "каждые 2 месяца 30-го числа (месяцы без этого числа пропускаются) \
             в 09:00 (Europe/Moscow), 22 раза",
        ),
        // The 28th exists in every month: the overflow policy changes nothing, so it is not told.
        case(
            builder(monthly(1, day_of_month(28)), start, moscow())
                .overflow(Overflow::Skip)
                .end(End::Count(21))
                .build()?,
            "every month on the 28th at 09:00 (Europe/Moscow), 21 times",
            "ежемесячно 28-го числа в 09:00 (Europe/Moscow), 21 раз",
        ),
        case(
            builder(monthly(11, day_of_month(2)), start, moscow())
                .end(End::Count(5))
                .build()?,
            "every 11 months on the 2nd at 09:00 (Europe/Moscow), 5 times",
            "каждые 11 месяцев 2-го числа в 09:00 (Europe/Moscow), 5 раз",
        ),
        case(
            builder(monthly(1, MonthDay::LastDay), start, moscow()).build()?,
            "every month on the last day at 09:00 (Europe/Moscow)",
            "ежемесячно в последний день месяца в 09:00 (Europe/Moscow)",
        ),
        case(
            builder(
                monthly(1, nth(Ordinal::Last, Weekday::Fri)),
                at(2026, 1, 5, 10, 30),
                moscow(),
            )
            .build()?,
            "every month on the last Friday at 10:30 (Europe/Moscow)",
            "ежемесячно в последнюю пятницу в 10:30 (Europe/Moscow)",
        ),
        case(
            builder(
                monthly(1, nth(Ordinal::First, Weekday::Mon)),
                start,
                moscow(),
            )
            .build()?,
            "every month on the first Monday at 09:00 (Europe/Moscow)",
            "ежемесячно в первый понедельник в 09:00 (Europe/Moscow)",
        ),
        case(
            builder(
                monthly(3, nth(Ordinal::Second, Weekday::Tue)),
                start,
                moscow(),
            )
            .build()?,
            "every 3 months on the second Tuesday at 09:00 (Europe/Moscow)",
            "каждые 3 месяца во второй вторник в 09:00 (Europe/Moscow)",
        ),
        case(
            builder(
                monthly(1, nth(Ordinal::Third, Weekday::Wed)),
                start,
                moscow(),
            )
            .build()?,
            "every month on the third Wednesday at 09:00 (Europe/Moscow)",
            "ежемесячно в третью среду в 09:00 (Europe/Moscow)",
        ),
        case(
            builder(
                monthly(1, nth(Ordinal::Fourth, Weekday::Thu)),
                start,
                moscow(),
            )
            .build()?,
            "every month on the fourth Thursday at 09:00 (Europe/Moscow)",
            "ежемесячно в четвёртый четверг в 09:00 (Europe/Moscow)",
        ),
        case(
            builder(
                monthly(1, nth(Ordinal::Second, Weekday::Sat)),
                start,
                moscow(),
            )
            .build()?,
            "every month on the second Saturday at 09:00 (Europe/Moscow)",
            "ежемесячно во вторую субботу в 09:00 (Europe/Moscow)",
        ),
        case(
            builder(
                monthly(1, nth(Ordinal::Last, Weekday::Sun)),
                start,
                moscow(),
            )
            .build()?,
            "every month on the last Sunday at 09:00 (Europe/Moscow)",
            "ежемесячно в последнее воскресенье в 09:00 (Europe/Moscow)",
        ),
        case(
            builder(
                monthly(1, nth(Ordinal::Second, Weekday::Sun)),
                start,
                moscow(),
            )
            .build()?,
            "every month on the second Sunday at 09:00 (Europe/Moscow)",
            "ежемесячно во второе воскресенье в 09:00 (Europe/Moscow)",
        ),
        case(
            builder(
                monthly(1, MonthDay::WorkingDay(WorkingDayNumber::new(3)?)),
                start,
                moscow(),
            )
            .build()?,
            "every month on the 3rd working day at 09:00 (Europe/Moscow)",
            "ежемесячно в 3-й рабочий день в 09:00 (Europe/Moscow)",
        ),
        case(
            builder(Recurrence::daily(every(1)), at(2026, 1, 5, 8, 0), Zone::UTC).build()?,
            "every day at 08:00 (UTC)",
            "ежедневно в 08:00 (UTC)",
        ),
        case(
            builder(Recurrence::daily(every(21)), start, moscow()).build()?,
            "every 21 days at 09:00 (Europe/Moscow)",
            "каждый 21 день в 09:00 (Europe/Moscow)",
        ),
        case(
            builder(Recurrence::daily(every(5)), start, moscow()).build()?,
            "every 5 days at 09:00 (Europe/Moscow)",
            "каждые 5 дней в 09:00 (Europe/Moscow)",
        ),
        case(
            builder(
                Recurrence::WorkingDay { interval: every(3) },
                start,
                moscow(),
            )
            .build()?,
            "every 3 working days at 09:00 (Europe/Moscow)",
            "каждые 3 рабочих дня в 09:00 (Europe/Moscow)",
        ),
        case(
            builder(
                Recurrence::WorkingDay { interval: every(1) },
                start,
                moscow(),
            )
            .build()?,
            "every working day at 09:00 (Europe/Moscow)",
            "каждый рабочий день в 09:00 (Europe/Moscow)",
        ),
        case(
            builder(Recurrence::weekly(every(21), mon_fri), start, moscow()).build()?,
            "every 21 weeks on Monday and Friday at 09:00 (Europe/Moscow)",
            "каждую 21 неделю по понедельникам и пятницам в 09:00 (Europe/Moscow)",
        ),
        case(
            builder(
                Recurrence::yearly(every(1), Month::March, day_of_month(15)),
                start,
                moscow(),
            )
            .build()?,
            "every year on March 15 at 09:00 (Europe/Moscow)",
            "ежегодно 15 марта в 09:00 (Europe/Moscow)",
        ),
        case(
            builder(
                Recurrence::yearly(every(1), Month::February, day_of_month(29)),
                at(2024, 2, 29, 9, 0),
                moscow(),
            )
            .build()?,
            "every year on February 29 (February 28 in common years) at 09:00 (Europe/Moscow)",
            "ежегодно 29 февраля (28 февраля в невисокосные годы) в 09:00 (Europe/Moscow)",
        ),
        case(
            builder(
                Recurrence::yearly(every(2), Month::February, MonthDay::LastDay),
                start,
                moscow(),
            )
            .build()?,
            "every 2 years on the last day of February at 09:00 (Europe/Moscow)",
            "каждые 2 года в последний день февраля в 09:00 (Europe/Moscow)",
        ),
        case(
            builder(
                Recurrence::yearly(every(5), Month::November, nth(Ordinal::Last, Weekday::Fri)),
                start,
                moscow(),
            )
            .build()?,
            "every 5 years on the last Friday of November at 09:00 (Europe/Moscow)",
            "каждые 5 лет в последнюю пятницу ноября в 09:00 (Europe/Moscow)",
        ),
        case(
            builder(
                Recurrence::yearly(
                    every(21),
                    Month::January,
                    MonthDay::WorkingDay(WorkingDayNumber::new(3)?),
                ),
                start,
                moscow(),
            )
            .build()?,
            "every 21 years on the 3rd working day of January at 09:00 (Europe/Moscow)",
            "каждый 21 год в 3-й рабочий день января в 09:00 (Europe/Moscow)",
        ),
        case(
            builder(
                Recurrence::Once {
                    date: date(2026, 3, 1),
                    lead: Lead::Days(3),
                },
                start,
                moscow(),
            )
            .build()?,
            "once on 2026-03-01 at 09:00 (Europe/Moscow), created 3 days before",
            "однократно 2026-03-01 в 09:00 (Europe/Moscow), создаётся за 3 дня",
        ),
        case(
            builder(
                Recurrence::Once {
                    date: date(2026, 3, 1),
                    lead: Lead::Weeks(1),
                },
                start,
                moscow(),
            )
            .build()?,
            "once on 2026-03-01 at 09:00 (Europe/Moscow), created 1 week before",
            "однократно 2026-03-01 в 09:00 (Europe/Moscow), создаётся за 1 неделю",
        ),
        case(
            builder(
                Recurrence::Once {
                    date: date(2026, 3, 1),
                    lead: Lead::Months(2),
                },
                start,
                moscow(),
            )
            .build()?,
            "once on 2026-03-01 at 09:00 (Europe/Moscow), created 2 months before",
            "однократно 2026-03-01 в 09:00 (Europe/Moscow), создаётся за 2 месяца",
        ),
        case(
            builder(
                Recurrence::Once {
                    date: date(2026, 3, 1),
                    lead: Lead::None,
                },
                date(2026, 3, 1).and_hms_opt(9, 0, 30).unwrap(),
                moscow(),
            )
            .build()?,
            "once on 2026-03-01 at 09:00:30 (Europe/Moscow)",
            "однократно 2026-03-01 в 09:00:30 (Europe/Moscow)",
        ),
        // The 15th of January and April 2026 are working days (Thursday, Wednesday).
        case(
            builder(monthly(1, day_of_month(15)), start, moscow())
                .end(End::Count(12))
                .adjustment(Adjustment::Following)
                .skip(date(2026, 1, 15))
                .move_occurrence(date(2026, 4, 15), at(2026, 4, 16, 9, 0))
                .build()?,
            "every month on the 15th at 09:00 (Europe/Moscow), 12 times, \
             moved to the next working day when on a day off, \
             1 occurrence skipped, 1 occurrence moved",
            "ежемесячно 15-го числа в 09:00 (Europe/Moscow), 12 раз, \
             с переносом с выходного на следующий рабочий день, \
             пропущено 1 повторение, перенесено 1 повторение",
        ),
        case(
            builder(Recurrence::daily(every(1)), start, moscow())
                .adjustment(Adjustment::Preceding)
                .skip(date(2026, 1, 6))
                .skip(date(2026, 1, 7))
                .build()?,
            "every day at 09:00 (Europe/Moscow), \
             moved to the previous working day when on a day off, 2 occurrences skipped",
            "ежедневно в 09:00 (Europe/Moscow), \
             с переносом с выходного на предыдущий рабочий день, пропущено 2 повторения",
        ),
        case(
            // Tuesday to Friday and the next Tuesday: working days, left where the rule puts them.
            [6, 7, 8, 9, 13]
                .into_iter()
                .fold(
                    builder(Recurrence::daily(every(1)), start, moscow())
                        .adjustment(Adjustment::ModifiedFollowing),
                    |b, d| b.skip(date(2026, 1, d)),
                )
                .build()?,
            "every day at 09:00 (Europe/Moscow), moved to the next working day when on a day off \
             (to the previous one if the next is in another month), 5 occurrences skipped",
            "ежедневно в 09:00 (Europe/Moscow), с переносом с выходного на следующий рабочий день \
             (на предыдущий, если следующий — в другом месяце), пропущено 5 повторений",
        ),
    ])
}

/// Schedules read from RFC 5545 text: RFC meaning (skip short months), general rules, UTC
/// end instants, extra dates.
fn rfc_cases() -> Result<Vec<Case>> {
    let read = |rule: &str| Schedule::from_rrule(rule);
    Ok(vec![
        case(
            read(
                "DTSTART;TZID=Europe/Moscow:20260131T090000\nRRULE:FREQ=MONTHLY;BYMONTHDAY=31;COUNT=5",
            )?,
            "every month on the 31st (months without this day are skipped) \
             at 09:00 (Europe/Moscow), 5 times",
            "ежемесячно 31-го числа (месяцы без этого числа пропускаются) \
             в 09:00 (Europe/Moscow), 5 раз",
        ),
        case(
            read(
                "DTSTART;TZID=Europe/Moscow:20240229T090000\nRRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
            )?,
            "every year on February 29 (only in leap years) at 09:00 (Europe/Moscow)",
            "ежегодно 29 февраля (только в високосные годы) в 09:00 (Europe/Moscow)",
        ),
        case(
            read(
                "DTSTART;TZID=Europe/Moscow:20260105T090000\nRRULE:FREQ=MONTHLY;BYDAY=MO,TU;BYSETPOS=2;COUNT=5",
            )?,
            "by the rule FREQ=MONTHLY;BYDAY=MO,TU;BYSETPOS=2 at 09:00 (Europe/Moscow), 5 times",
            "по правилу FREQ=MONTHLY;BYDAY=MO,TU;BYSETPOS=2 в 09:00 (Europe/Moscow), 5 раз",
        ),
        // 12:00 UTC is 15:00 in Moscow (UTC+3 all year since 2014).
        case(
            read(
                "DTSTART;TZID=Europe/Moscow:20260105T090000\nRRULE:FREQ=DAILY;UNTIL=20261231T120000Z",
            )?,
            "every day at 09:00 (Europe/Moscow), until 2026-12-31 15:00",
            "ежедневно в 09:00 (Europe/Moscow), до 2026-12-31 15:00 включительно",
        ),
        case(
            read(
                "DTSTART;TZID=Europe/Moscow:20260105T090000\nRRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=4\n\
                 RDATE;TZID=Europe/Moscow:20260107T090000",
            )?,
            "every week on Monday at 09:00 (Europe/Moscow), 4 times, 1 occurrence added",
            "еженедельно по понедельникам в 09:00 (Europe/Moscow), 4 раза, добавлено 1 повторение",
        ),
        case(
            read(
                "DTSTART;TZID=Europe/Moscow:20260105T090000\nRRULE:FREQ=DAILY;INTERVAL=22;COUNT=111",
            )?,
            "every 22 days at 09:00 (Europe/Moscow), 111 times",
            "каждые 22 дня в 09:00 (Europe/Moscow), 111 раз",
        ),
    ])
}

#[test]
fn descriptions_match_the_table() -> Result {
    let mut failures = Vec::new();
    for case in built_cases()?.into_iter().chain(rfc_cases()?) {
        for (locale, expected) in [(Locale::En, case.en), (Locale::Ru, case.ru)] {
            let got = case.schedule.describe(locale);
            if got != expected {
                failures.push(format!(
                    "{locale:?} for {}\n  expected: {expected}\n       got: {got}",
                    case.schedule.to_rrule().replace('\n', " | ")
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    Ok(())
}

/// A schedule written as RFC 5545 text and read back expands identically, so it must read the
/// same in words (the end date comes back as a UTC instant, the clamp as BYSETPOS). One-offs
/// are left out: their lead time is about creation, not occurrences, and RFC 5545 has no
/// place for it.
#[test]
fn descriptions_survive_an_rfc_round_trip() -> Result {
    for case in built_cases()? {
        if matches!(
            case.schedule.recurrence(),
            Some(Recurrence::Once { .. }) | None
        ) {
            continue;
        }
        let text = case.schedule.to_rrule();
        let back = Schedule::from_rrule(&text)?;
        for locale in [Locale::En, Locale::Ru] {
            assert_eq!(
                back.describe(locale),
                case.schedule.describe(locale),
                "{text}"
            );
        }
    }
    Ok(())
}

/// The writer stores "the Nth working day" as `BYDAY=MO,TU,WE,TH,FR;BYSETPOS=N` for other
/// tools plus `X-RD-MONTHDAY:WORKDAY=N`; the reader must take the extension, or the holidays
/// of the calendar would stop counting (a regression once seen). Russia's 2026 New Year
/// holidays (January 1–9) make the first working day January 12; February 1 and March 1 are
/// Sundays.
#[test]
fn working_day_of_month_survives_an_rfc_round_trip() -> Result {
    let holidays = [1, 2, 5, 6, 7, 8, 9].map(|d| date(2026, 1, d));
    let calendar =
        recurring_deals::WorkingCalendar::new([Weekday::Sat, Weekday::Sun], holidays, [])?;
    let schedule = builder(
        monthly(1, MonthDay::WorkingDay(WorkingDayNumber::new(1)?)),
        at(2026, 1, 1, 9, 0),
        moscow(),
    )
    .calendar(calendar)
    .end(End::Count(3))
    .build()?;
    let expected = [date(2026, 1, 12), date(2026, 2, 2), date(2026, 3, 2)];
    let dates = |s: &Schedule| s.occurrences().map(|o| o.date()).collect::<Vec<_>>();
    assert_eq!(dates(&schedule), expected);
    let back = Schedule::from_rrule(&schedule.to_rrule())?;
    assert_eq!(dates(&back), expected, "{}", schedule.to_rrule());
    assert_eq!(
        back.describe(Locale::En),
        "every month on the 1st working day at 09:00 (Europe/Moscow), 3 times"
    );
    Ok(())
}

/// The CLDR rule for Russian cardinals, written out from its definition.
fn russian_category(n: u64) -> usize {
    if n % 10 == 1 && n % 100 != 11 {
        0
    } else if (2..=4).contains(&(n % 10)) && !(12..=14).contains(&(n % 100)) {
        1
    } else {
        2
    }
}

#[test]
fn russian_plural_follows_the_rule_from_0_to_200() {
    let forms = ["one", "few", "many"];
    for n in 0..=200 {
        assert_eq!(
            Locale::Ru.plural(n, forms),
            forms[russian_category(n)],
            "{n}"
        );
    }
    // Spot checks typed from grammar, not from the formula above.
    let times = |n| format!("{n} {}", Locale::Ru.plural(n, ["раз", "раза", "раз"]));
    let typed = [
        (1, "1 раз"),
        (2, "2 раза"),
        (5, "5 раз"),
        (11, "11 раз"),
        (12, "12 раз"),
        (14, "14 раз"),
        (21, "21 раз"),
        (22, "22 раза"),
        (101, "101 раз"),
        (111, "111 раз"),
        (112, "112 раз"),
        (122, "122 раза"),
    ];
    for (n, text) in typed {
        assert_eq!(times(n), text);
    }
    let days = |n| Locale::Ru.plural(n, ["день", "дня", "дней"]);
    assert_eq!(
        [days(1), days(2), days(5), days(0)],
        ["день", "дня", "дней", "дней"]
    );
    let years = |n| Locale::Ru.plural(n, ["год", "года", "лет"]);
    assert_eq!([years(1), years(3), years(11)], ["год", "года", "лет"]);
}

#[test]
fn english_plural_is_one_or_many() {
    let forms = ["one", "few", "many"];
    assert_eq!(Locale::En.plural(1, forms), "one");
    for n in (0..=200).filter(|&n| n != 1) {
        assert_eq!(Locale::En.plural(n, forms), "many", "{n}");
    }
}

/// Every count a schedule can end after agrees with its numeral in both languages.
#[test]
fn counts_agree_with_their_numerals() -> Result {
    let start = at(2026, 1, 5, 9, 0);
    for n in 1..=200u32 {
        let schedule = builder(Recurrence::daily(every(1)), start, Zone::UTC)
            .end(End::Count(n))
            .build()?;
        let ru = ["раз", "раза", "раз"][russian_category(u64::from(n))];
        assert_eq!(
            schedule.describe(Locale::Ru),
            format!("ежедневно в 09:00 (UTC), {n} {ru}")
        );
        let en = if n == 1 {
            "once".to_owned()
        } else {
            format!("{n} times")
        };
        assert_eq!(
            schedule.describe(Locale::En),
            format!("every day at 09:00 (UTC), {en}")
        );
    }
    Ok(())
}

/// Every interval: "каждый 21 день", "каждые 22 дня", "каждые 25 дней"; "каждую 31 неделю";
/// "каждый 101 год", "каждые 102 года", "каждые 111 лет".
#[test]
fn intervals_agree_with_their_numerals() -> Result {
    let start = at(2026, 1, 5, 9, 0);
    let mon = WeekdaySet::single(Weekday::Mon);
    for n in 2..=Interval::MAX {
        let category = russian_category(u64::from(n));
        let (each_masculine, each_feminine) = match category {
            0 => ("каждый", "каждую"),
            _ => ("каждые", "каждые"),
        };
        let days = builder(Recurrence::daily(every(n)), start, Zone::UTC).build()?;
        let day = ["день", "дня", "дней"][category];
        assert_eq!(
            days.describe(Locale::Ru),
            format!("{each_masculine} {n} {day} в 09:00 (UTC)")
        );
        assert_eq!(
            days.describe(Locale::En),
            format!("every {n} days at 09:00 (UTC)")
        );
        let weeks = builder(Recurrence::weekly(every(n), mon), start, Zone::UTC).build()?;
        let week = ["неделю", "недели", "недель"][category];
        assert_eq!(
            weeks.describe(Locale::Ru),
            format!("{each_feminine} {n} {week} по понедельникам в 09:00 (UTC)")
        );
        let years = builder(
            Recurrence::yearly(every(n), Month::March, day_of_month(15)),
            start,
            Zone::UTC,
        )
        .build()?;
        let year = ["год", "года", "лет"][category];
        assert_eq!(
            years.describe(Locale::Ru),
            format!("{each_masculine} {n} {year} 15 марта в 09:00 (UTC)")
        );
    }
    Ok(())
}

fn moscow() -> Zone {
    Zone::get("Europe/Moscow").unwrap()
}
