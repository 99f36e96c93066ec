//! Every command README.md shows is run, as written (issue #20, kind 10): a README whose
//! commands drift from the programs fails here, not in a newcomer's terminal.
//!
//! The commands are read from README's `sh` blocks (continuation lines joined, comments
//! dropped) and from inline code spans that start with `cargo `, and each kind is handled:
//!
//! * `cargo run --example NAME -- ARGS` (with `echo '…' |` piping its input): the example is
//!   built with this test's features and run with those arguments in a scratch folder where
//!   `examples/` is the repository's; it must succeed and print something. A service's
//!   `--listen ADDR` is given port 0 instead (the port may be taken here); it must answer
//!   `GET /healthz` and is then stopped. The claims the comments make about a run are checked:
//!   two adjacent `simulate --db` ranges print what one run over both prints, and a second
//!   `quickstart --db` run on the same file succeeds.
//! * `cargo test …`: the README's test command is what `.ci/run` runs (this run is part of
//!   it); a `--test NAME` names a test target of the crate.
//! * `cargo bench …`: the bench target exists and its required features are among those the
//!   command enables. With `RECURRING_DEALS_HEAVY=1` (as `.ci/run` sets) each bench runs once
//!   in criterion's test mode (`-- --test`, every benchmark executed once).
//! * `fuzz/run.sh TARGET SECONDS`: the target is one the script knows, and `.ci/run` runs
//!   `fuzz/run.sh all 60` itself.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// One command of README: its text as written (for messages), the environment it sets, its
/// words (quotes removed), and the input piped into it.
#[derive(Debug, Clone)]
struct Shown {
    text: String,
    env: Vec<(String, String)>,
    words: Vec<String>,
    stdin: Option<String>,
}

/// Splits a shell line into words: single and double quotes group, `\` is not special.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut started = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                started = true;
            }
            (None, c) if c.is_whitespace() => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            (None, c) => {
                word.push(c);
                started = true;
            }
        }
    }
    assert!(quote.is_none(), "an unclosed quote in README: {line}");
    if started {
        words.push(word);
    }
    words
}

/// The commands of README: every line of its `sh` blocks, and inline `cargo …` spans.
fn readme_commands() -> Vec<Shown> {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let mut lines = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in readme.lines() {
        if line.starts_with("```") {
            in_sh = line == "```sh";
            continue;
        }
        if in_sh {
            let line = line.trim();
            if line.starts_with('#') || (line.is_empty() && pending.is_empty()) {
                continue;
            }
            // A trailing comment after two spaces or more.
            let line = line.split("   #").next().unwrap().trim_end();
            match line.strip_suffix('\\') {
                Some(head) => {
                    pending.push_str(head);
                    pending.push(' ');
                }
                None => {
                    pending.push_str(line);
                    lines.push(std::mem::take(&mut pending));
                }
            }
        } else {
            let mut rest = line;
            while let Some(start) = rest.find("`cargo ") {
                let span = &rest[start + 1..];
                let Some(end) = span.find('`') else { break };
                lines.push(span[..end].to_owned());
                rest = &span[end + 1..];
            }
        }
    }
    lines
        .into_iter()
        .map(|text| {
            let (stdin, command) = match text.split_once(" | ") {
                Some((echo, command)) => {
                    let mut echo = words(echo);
                    assert_eq!(echo.remove(0), "echo", "only `echo … |` pipes: {text}");
                    (Some(echo.join(" ") + "\n"), command.to_owned())
                }
                None => (None, text.clone()),
            };
            let mut env = Vec::new();
            let mut words = words(&command);
            while let Some((name, value)) = words
                .first()
                .and_then(|w| w.split_once('='))
                .filter(|(name, _)| name.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
            {
                env.push((name, value));
                words.remove(0);
            }
            Shown {
                text,
                env,
                words,
                stdin,
            }
        })
        .collect()
}

/// The value after `--flag` among `words`.
fn flag<'a>(words: &'a [String], flag: &str) -> Option<&'a str> {
    words
        .iter()
        .position(|w| w == flag)
        .and_then(|i| words.get(i + 1))
        .map(String::as_str)
}

/// The features a cargo command enables (`--features a,b`; `--all-features` is every one).
fn features(words: &[String]) -> Vec<String> {
    if words.iter().any(|w| w == "--all-features") {
        return [
            "sqlite", "postgres", "tracing", "metrics", "parallel", "proptest",
        ]
        .map(str::to_owned)
        .to_vec();
    }
    flag(words, "--features")
        .map(|f| f.split(',').map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Whether this test was built with `feature`.
fn built_with(feature: &str) -> bool {
    match feature {
        "sqlite" => cfg!(feature = "sqlite"),
        "postgres" => cfg!(feature = "postgres"),
        "tracing" => cfg!(feature = "tracing"),
        "metrics" => cfg!(feature = "metrics"),
        "parallel" => cfg!(feature = "parallel"),
        "proptest" => cfg!(feature = "proptest"),
        other => panic!("a feature the crate does not have: {other}"),
    }
}

/// A scratch folder where `examples/` is the repository's, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "recurring-deals-readme-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(Path::new(ROOT).join("examples"), dir.join("examples")).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The example's arguments (after `--`).
fn example_args(words: &[String]) -> Vec<String> {
    words
        .iter()
        .position(|w| w == "--")
        .map_or(Vec::new(), |i| words[i + 1..].to_vec())
}

/// Runs example `name` with `args` in `dir`, with `stdin`; its stdout, after checking it
/// succeeded and printed something.
fn run_example(
    binaries: &mut BTreeMap<String, PathBuf>,
    shown: &Shown,
    args: &[String],
    dir: &Path,
) -> String {
    let name = flag(&shown.words, "--example").unwrap().to_owned();
    let binary = binaries
        .entry(name.clone())
        .or_insert_with(|| common::build_example(&name))
        .clone();
    let mut child = Command::new(binary)
        .args(args)
        .envs(shown.env.iter().map(|(k, v)| (k, v)))
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", shown.text));
    let mut stdin = child.stdin.take().unwrap();
    if let Some(input) = &shown.stdin {
        stdin.write_all(input.as_bytes()).unwrap();
    }
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{} failed: {}\n{stdout}",
        shown.text,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!stdout.trim().is_empty(), "{} printed nothing", shown.text);
    stdout
}

/// Starts the service as README shows it, on port 0, and checks it answers `/healthz`.
fn run_service(binaries: &mut BTreeMap<String, PathBuf>, shown: &Shown, dir: &Path) {
    let binary = binaries
        .entry("service".into())
        .or_insert_with(|| common::build_example("service"))
        .clone();
    let mut args = example_args(&shown.words);
    if let Some(i) = args.iter().position(|a| a == "--listen") {
        let address: std::net::SocketAddr = args[i + 1].parse().unwrap();
        args[i + 1] = std::net::SocketAddr::new(address.ip(), 0).to_string();
    }
    struct Stop(Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Stop(
        Command::new(binary)
            .args(&args)
            .current_dir(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut first = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let address = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{}: first line {first:?}", shown.text));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = std::net::TcpStream::connect(address).and_then(|mut stream| {
            stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
            let mut answer = String::new();
            std::io::Read::read_to_string(&mut stream, &mut answer)?;
            Ok(answer)
        });
        match answer {
            Ok(answer) if answer.starts_with("HTTP/1.1 200") => break,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "{}: /healthz {other:?}",
                    shown.text
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

/// The targets `fuzz/run.sh` knows.
fn fuzz_targets() -> Vec<String> {
    let script = std::fs::read_to_string(Path::new(ROOT).join("fuzz/run.sh")).unwrap();
    let line = script
        .lines()
        .find_map(|l| l.strip_prefix("targets=("))
        .expect("run.sh lists its targets");
    line.trim_end_matches(')')
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// The required features of bench `name`, from Cargo.toml.
fn bench_features(name: &str) -> Vec<String> {
    let manifest = std::fs::read_to_string(Path::new(ROOT).join("Cargo.toml")).unwrap();
    let section = manifest
        .split("[[bench]]")
        .skip(1)
        .find(|s| s.contains(&format!("name = \"{name}\"")))
        .unwrap_or_else(|| panic!("no [[bench]] named {name}"));
    section
        .lines()
        .find_map(|l| l.strip_prefix("required-features = "))
        .map_or(Vec::new(), |list| {
            list.trim_matches(|c| c == '[' || c == ']')
                .split(',')
                .map(|f| f.trim().trim_matches('"').to_owned())
                .filter(|f| !f.is_empty())
                .collect()
        })
}

#[test]
fn every_command_in_the_readme_runs() {
    let commands = readme_commands();
    assert!(
        commands.len() >= 15,
        "README's commands were not found: {commands:?}"
    );
    let ci = std::fs::read_to_string(Path::new(ROOT).join(".ci/run")).unwrap();
    let heavy = std::env::var("RECURRING_DEALS_HEAVY").is_ok_and(|v| v == "1");
    let mut binaries = BTreeMap::new();
    let mut simulated: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut ran = 0;
    for shown in &commands {
        let w = &shown.words;
        match (w[0].as_str(), w.get(1).map(String::as_str)) {
            ("cargo", Some("run")) => {
                let missing: Vec<String> =
                    features(w).into_iter().filter(|f| !built_with(f)).collect();
                if !missing.is_empty() {
                    eprintln!("not run without features {missing:?}: {}", shown.text);
                    continue;
                }
                let name = flag(w, "--example").expect("README runs examples");
                let args = example_args(w);
                if name == "service" {
                    let scratch = Scratch::new("service");
                    run_service(&mut binaries, shown, &scratch.0);
                } else if let Some(db) = flag(&args, "--db") {
                    // Runs sharing a file run in order in one folder: their claim is about
                    // the sequence.
                    let dir = Path::new(ROOT)
                        .join("target")
                        .join(format!("readme-{}", std::process::id()));
                    std::fs::create_dir_all(&dir).unwrap();
                    if !dir.join("examples").exists() {
                        #[cfg(unix)]
                        std::os::unix::fs::symlink(
                            Path::new(ROOT).join("examples"),
                            dir.join("examples"),
                        )
                        .unwrap();
                    }
                    let out = run_example(&mut binaries, shown, &args, &dir);
                    simulated
                        .entry(format!("{name} {db}"))
                        .or_default()
                        .push(out);
                    if name == "quickstart" {
                        // "A second run finds its deals there and creates none twice."
                        run_example(&mut binaries, shown, &args, &dir);
                    }
                } else {
                    let scratch = Scratch::new(name);
                    run_example(&mut binaries, shown, &args, &scratch.0);
                }
                ran += 1;
            }
            ("cargo", Some("test")) => {
                if let Some(test) = flag(w, "--test") {
                    assert!(
                        Path::new(ROOT)
                            .join("tests")
                            .join(format!("{test}.rs"))
                            .exists(),
                        "{}: no test target {test}",
                        shown.text
                    );
                } else {
                    assert!(
                        ci.contains(&shown.text),
                        "README's test command {:?} is not what .ci/run runs",
                        shown.text
                    );
                }
            }
            ("cargo", Some("bench")) => {
                let name = flag(w, "--bench").expect("a bench command names its bench");
                assert!(
                    Path::new(ROOT)
                        .join("benches")
                        .join(format!("{name}.rs"))
                        .exists(),
                    "{}: no bench {name}",
                    shown.text
                );
                let enabled = features(w);
                for required in bench_features(name) {
                    assert!(
                        enabled.contains(&required),
                        "{}: bench {name} needs feature {required}",
                        shown.text
                    );
                }
                if heavy {
                    run_bench_once(shown, name);
                    ran += 1;
                }
            }
            ("fuzz/run.sh", Some(target)) => {
                assert!(
                    target == "all" || fuzz_targets().iter().any(|t| t == target),
                    "{}: run.sh has no target {target}",
                    shown.text
                );
                assert!(
                    ci.contains("fuzz/run.sh all 60"),
                    ".ci/run runs the fuzz targets"
                );
            }
            _ => panic!(
                "README shows a command this test does not know: {}",
                shown.text
            ),
        }
    }
    // Two adjacent ranges in two runs print what one run over both prints (on a fresh file).
    if let Some(runs) = simulated.get("simulate deals.db") {
        let shown: Vec<&Shown> = commands
            .iter()
            .filter(|c| c.words.iter().any(|w| w == "simulate") && flag(&c.words, "--db").is_some())
            .collect();
        assert_eq!(
            (runs.len(), shown.len()),
            (2, 2),
            "README shows two adjacent simulate --db runs"
        );
        let (first, second) = (example_args(&shown[0].words), example_args(&shown[1].words));
        assert_eq!(
            flag(&first, "--to"),
            flag(&second, "--from"),
            "the ranges are adjacent"
        );
        let mut whole = first.clone();
        let to = whole.iter().position(|a| a == "--to").unwrap();
        whole[to + 1] = flag(&second, "--to").unwrap().to_owned();
        let scratch = Scratch::new("simulate-whole");
        let once = run_example(&mut binaries, shown[0], &whole, &scratch.0);
        assert_eq!(
            runs.concat(),
            once,
            "two adjacent --db ranges differ from one run over both"
        );
    }
    let _ = std::fs::remove_dir_all(
        Path::new(ROOT)
            .join("target")
            .join(format!("readme-{}", std::process::id())),
    );
    assert!(ran >= 8, "only {ran} commands ran");
}

/// Runs bench `name` once in criterion's test mode, with every feature (the artifacts
/// `.ci/run` builds anyway), and the environment README gives it unless the host set it.
fn run_bench_once(shown: &Shown, name: &str) {
    let mut command = Command::new(env!("CARGO"));
    command
        .args(["bench", "--all-features", "--bench", name, "--", "--test"])
        .current_dir(ROOT);
    for (key, value) in &shown.env {
        if std::env::var_os(key).is_none() {
            command.env(key, value);
        }
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{} (once, in test mode) failed: {}",
        shown.text,
        String::from_utf8_lossy(&output.stderr)
    );
}
