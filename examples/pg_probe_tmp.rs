use chrono::{NaiveDate, TimeZone, Utc};
use recurring_deals::*;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
fn main() {
    let url = std::env::var("U").unwrap();
    let workers: usize = std::env::var("W").unwrap().parse().unwrap();
    let n: usize = 10000;
    let schema = format!("rd_probe_{}", std::process::id());
    let store = PostgresRepository::connect_with(&url, Some(&schema), 1).unwrap();
    let scratch = InMemoryRepository::new();
    let engine = Engine::new(
        &scratch,
        ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()),
    );
    let tenant = TenantId::new("bench").unwrap();
    let rub = Currency::new("RUB").unwrap();
    for i in 0..n {
        let start = NaiveDate::from_ymd_opt(2026, 3, 1)
            .unwrap()
            .and_hms_opt(1 + (i % 23) as u32, 0, 0)
            .unwrap();
        let s = Schedule::builder(Recurrence::daily(Interval::ONE), start, chrono_tz::UTC)
            .end(End::Count(1))
            .build()
            .unwrap();
        engine
            .create_template(
                &tenant,
                TemplateDraft::new(
                    Deal::new(format!("S {i}"), Money::new(10_000, rub)).unwrap(),
                    s,
                ),
            )
            .unwrap();
    }
    let ts = scratch
        .list_templates(
            &tenant,
            &TemplateQuery {
                limit: n,
                ..Default::default()
            },
        )
        .unwrap()
        .items;
    store.insert_templates(&ts).unwrap();
    let now = Utc.with_ymd_and_hms(2026, 3, 31, 0, 0, 0).unwrap();
    let barrier = Arc::new(Barrier::new(workers));
    let t_all = Instant::now();
    let hs: Vec<_> = (0..workers)
        .map(|_| {
            let url = url.clone();
            let schema = schema.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let store = PostgresRepository::connect_with(&url, Some(&schema), 1).unwrap();
                barrier.wait();
                let (mut due_t, mut commit_t, mut conflict_t) =
                    (Duration::ZERO, Duration::ZERO, Duration::ZERO);
                let (mut commits, mut conflicts, mut decoded) = (0, 0, 0);
                loop {
                    let t = Instant::now();
                    let due = store.due_templates(now, 500).unwrap();
                    due_t += t.elapsed();
                    if due.is_empty() {
                        break;
                    }
                    decoded += due.len();
                    for tpl in due {
                        let t = Instant::now();
                        let p = plan(&tpl, now);
                        let out = store
                            .commit(Commit {
                                template: p.template,
                                deals: p.deals,
                                skipped: p.skipped,
                                invoices: p.invoices,
                                events: p.events,
                            })
                            .unwrap();
                        match out {
                            CommitOutcome::Committed { .. } => {
                                commits += 1;
                                commit_t += t.elapsed();
                            }
                            _ => {
                                conflicts += 1;
                                conflict_t += t.elapsed();
                            }
                        }
                    }
                }
                (due_t, commit_t, conflict_t, commits, conflicts, decoded)
            })
        })
        .collect();
    for h in hs {
        let (d, c, f, cn, fn_, dec) = h.join().unwrap();
        println!(
            "due {:?} ({} decoded) commits {} avg {:?} conflicts {} avg {:?}",
            d,
            dec,
            cn,
            c / cn.max(1),
            fn_,
            f / fn_.max(1) as u32
        );
    }
    println!(
        "total {:?} -> {:.0}/s",
        t_all.elapsed(),
        n as f64 / t_all.elapsed().as_secs_f64()
    );
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .unwrap();
}
