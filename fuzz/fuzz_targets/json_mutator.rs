//! A JSON-aware mutator for the JSON targets. libFuzzer's byte mutations mostly break the
//! syntax, and rarely turn `520` into `4294967295`: half of the time this mutator instead
//! parses the input, changes one value (a number to a boundary value, a string to a date, a
//! zone or a long text, a field added, removed or nulled, an array item dropped or repeated)
//! and writes it back; the other half it leaves to libFuzzer.

use serde_json::{Map, Number, Value};

/// Mutates `data[..size]` in place (at most `max_size` bytes); returns the new size.
pub fn mutate(data: &mut [u8], size: usize, max_size: usize, seed: u32) -> usize {
    let mut rng = Rng(u64::from(seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    if rng.below(2) == 0
        && let Some(new_size) = structural(data, size, max_size, &mut rng)
    {
        return new_size;
    }
    libfuzzer_sys::fuzzer_mutate(data, size, max_size)
}

fn structural(data: &mut [u8], size: usize, max_size: usize, rng: &mut Rng) -> Option<usize> {
    let mut value: Value = serde_json::from_slice(&data[..size]).ok()?;
    let target = rng.below(count(&value));
    let mut seen = 0;
    visit(&mut value, target, &mut seen, rng);
    let out = serde_json::to_vec(&value).ok()?;
    if out.len() > max_size || out.len() > data.len() {
        return None;
    }
    data[..out.len()].copy_from_slice(&out);
    Some(out.len())
}

fn count(value: &Value) -> u64 {
    1 + match value {
        Value::Array(items) => items.iter().map(count).sum(),
        Value::Object(fields) => fields.values().map(count).sum(),
        _ => 0,
    }
}

/// Walks the values in order and mutates the `target`-th.
fn visit(value: &mut Value, target: u64, seen: &mut u64, rng: &mut Rng) -> bool {
    if *seen == target {
        change(value, rng);
        return true;
    }
    *seen += 1;
    match value {
        Value::Array(items) => items.iter_mut().any(|item| visit(item, target, seen, rng)),
        Value::Object(fields) => fields
            .values_mut()
            .any(|field| visit(field, target, seen, rng)),
        _ => false,
    }
}

fn change(value: &mut Value, rng: &mut Rng) {
    if rng.below(10) == 0 {
        *value = pick(
            rng,
            &[
                Value::Null,
                Value::Object(Map::new()),
                Value::Array(Vec::new()),
            ],
        );
        return;
    }
    match value {
        Value::Number(number) => *value = Value::Number(interesting_number(number, rng)),
        Value::String(text) => *text = interesting_text(text, rng),
        Value::Bool(flag) => *flag = !*flag,
        Value::Null => {
            *value = match rng.below(3) {
                0 => Value::Number(interesting_number(&Number::from(0), rng)),
                1 => Value::String(interesting_text("", rng)),
                _ => Value::Bool(true),
            }
        }
        Value::Array(items) => match (rng.below(3), items.len()) {
            (_, 0) => items.push(Value::Number(Number::from(rng.below(400)))),
            (0, n) => {
                items.remove(rng.below(n as u64) as usize);
            }
            (1, n) => {
                let item = items[rng.below(n as u64) as usize].clone();
                let copies = 1 + rng.below(3);
                (0..copies).for_each(|_| items.push(item.clone()));
            }
            (_, n) => items.swap(0, rng.below(n as u64) as usize),
        },
        Value::Object(fields) => match (rng.below(3), fields.len()) {
            (0, n) if n > 0 => {
                let key = fields.keys().nth(rng.below(n as u64) as usize).cloned();
                if let Some(key) = key {
                    fields.remove(&key);
                }
            }
            (1, n) if n > 0 => {
                let key = fields.keys().nth(rng.below(n as u64) as usize).cloned();
                if let Some(key) = key {
                    fields.insert(key, Value::Null);
                }
            }
            _ => {
                let key = FIELDS[rng.below(FIELDS.len() as u64) as usize];
                let value = match rng.below(3) {
                    0 => Value::Number(interesting_number(&Number::from(1), rng)),
                    1 => Value::String(interesting_text("", rng)),
                    _ => Value::Object(Map::new()),
                };
                fields.insert(key.to_owned(), value);
            }
        },
    }
}

fn interesting_number(number: &Number, rng: &mut Rng) -> Number {
    let current = number.as_i64().unwrap_or(0);
    match rng.below(4) {
        0 => Number::from(current.wrapping_add(rng.below(3) as i64 - 1)),
        1 => Number::from(current.wrapping_mul(10)),
        2 => {
            const SIGNED: [i64; 12] = [
                0,
                -1,
                1,
                -9_223_372_036_854_775_808,
                9_223_372_036_854_775_807,
                -2_147_483_648,
                2_147_483_647,
                -366,
                366,
                3651,
                100_001,
                -86_400,
            ];
            Number::from(SIGNED[rng.below(SIGNED.len() as u64) as usize])
        }
        _ => {
            const UNSIGNED: [u64; 9] = [
                u64::MAX,
                4_294_967_295,
                2_147_483_648,
                306_783_379,
                1_000_000_000,
                100_000_000,
                65_536,
                1001,
                0, // a random number
            ];
            let n = UNSIGNED[rng.below(UNSIGNED.len() as u64) as usize];
            Number::from(if n == 0 {
                rng.next() >> rng.below(64)
            } else {
                n
            })
        }
    }
}

fn interesting_text(text: &str, rng: &mut Rng) -> String {
    const TEXTS: [&str; 24] = [
        "",
        " ",
        "1900-01-01",
        "2199-12-31",
        "1899-12-31",
        "2200-01-01",
        "+262142-12-31",
        "2026-03-29T02:30:00",
        "2026-10-25T02:30:00",
        "2026-10-25T01:30:00Z",
        "2199-12-31T23:59:59",
        "1900-01-01T00:00:00Z",
        "2026-02-29",
        "Europe/Berlin",
        "Pacific/Apia",
        "Etc/GMT+12",
        "Pacific/Kiritimati",
        "America/Santiago",
        "XYZ",
        "JPY",
        "CLF",
        "\u{0}",
        "DTSTART;TZID=Europe/Berlin:20260329T023000\nRRULE:FREQ=DAILY;BYHOUR=2,3;COUNT=5",
        "DTSTART:19000101T000000\nRRULE:FREQ=YEARLY;BYWEEKNO=53;BYDAY=MO",
    ];
    match rng.below(4) {
        0 if !text.is_empty() => {
            // One character changed: a digit of a date, a letter of a name.
            let mut chars: Vec<char> = text.chars().collect();
            let i = rng.below(chars.len() as u64) as usize;
            chars[i] = pick(rng, &['0', '1', '2', '9', '3', '-', ':', 'T', 'Z', 'x']);
            chars.into_iter().collect()
        }
        1 => "x".repeat(1 + rng.below(2000) as usize),
        _ => TEXTS[rng.below(TEXTS.len() as u64) as usize].to_owned(),
    }
}

/// Field names of the JSON forms (schedule, draft, deal, invoice options), to add.
const FIELDS: [&str; 44] = [
    "rule",
    "rrule",
    "start",
    "zone",
    "end",
    "overflow",
    "calendar",
    "adjustment",
    "skip",
    "skip_instants",
    "move",
    "extra",
    "extra_instants",
    "interval",
    "week_start",
    "lead",
    "count",
    "until",
    "until_instant",
    "target",
    "begin_offset",
    "close_offset",
    "catch_up",
    "window_days",
    "max_per_tick",
    "invoice",
    "upcoming_notice_days",
    "split",
    "based_on",
    "title",
    "amount",
    "products",
    "custom",
    "origin",
    "payment_due",
    "remind_before_days",
    "remind_after_days",
    "dunning",
    "after_days",
    "level",
    "action",
    "days",
    "weeks",
    "months",
];

fn pick<T: Clone>(rng: &mut Rng, choices: &[T]) -> T {
    choices[rng.below(choices.len() as u64) as usize].clone()
}

/// xorshift64: enough randomness for choosing mutations, seeded by libFuzzer.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}
