//! The drift benchmark's Lathe side (`scripts/bench/drift/run.sh` runs it; results in
//! docs/benchmarks.md, "Drift").
//!
//! Reference and current samples of `--columns` numeric columns × `--rows` rows each, from a
//! seeded generator (a 64-bit LCG and Box–Muller, the same on every platform). The current
//! sample of every odd column is shifted: by 0.01 standard deviations when `column % 4 == 1`,
//! 0.25 when `column % 4 == 3`. Every fifth column (`column % 5 == 4`) is log-normal.
//!
//! ```text
//! drift_bench --write-data DIR      # writes DIR/ref.f64 and DIR/cur.f64 and exits
//! drift_bench [--data DIR] [--threads N] [--stats FILE]
//! ```
//!
//! The files are raw little-endian f64, column after column (`np.fromfile(path, "<f8")
//! .reshape(columns, rows)`). Without `--data` the samples are generated in memory. Then,
//! timed over all columns (columns spread over `--threads` threads, default: every core):
//! first the benchmark itself, one `column_drifts` call per column asking for (a) the default
//! statistic (with more than 1,000 reference rows and more than 5 distinct values that is
//! normalised Wasserstein), (b) PSI and (c) KS together, so each column is prepared once;
//! then, for the breakdown, each part alone through `column_drift` (each preparing the column
//! for its own statistic). Loading the data is not timed. Printed: each run's wall time, its
//! peak RSS (VmHWM, reset before each run through /proc/self/clear_refs), the data's size,
//! and a last line `RESULT {json}` for the script (`total_s` is the `column_drifts` run).
//! `--stats FILE` writes each column's statistics from that run as TSV (with the KS statistic
//! D, computed outside the timing) for the comparison with scipy.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use lathe_monitor::drift::kolmogorov::ks_two_sample;
use lathe_monitor::drift::sample::NumericSample;
use lathe_monitor::drift::{Column, ColumnDrift, ColumnOptions, Method, column_drifts};

struct Args {
    rows: usize,
    columns: usize,
    threads: usize,
    write_data: Option<PathBuf>,
    data: Option<PathBuf>,
    stats: Option<PathBuf>,
}

fn parse_args() -> Args {
    let mut args = Args {
        rows: 1_000_000,
        columns: 20,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        write_data: None,
        data: None,
        stats: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--rows" => args.rows = value().parse().unwrap_or_else(|_| usage("--rows: a number")),
            "--columns" => args.columns = value().parse().unwrap_or_else(|_| usage("--columns: a number")),
            "--threads" => args.threads = value().parse().unwrap_or_else(|_| usage("--threads: a number")),
            "--write-data" => args.write_data = Some(PathBuf::from(value())),
            "--data" => args.data = Some(PathBuf::from(value())),
            "--stats" => args.stats = Some(PathBuf::from(value())),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    args.threads = args.threads.max(1);
    args
}

fn usage(message: &str) -> ! {
    eprintln!(
        "drift_bench: {message}\nusage: drift_bench [--rows N] [--columns N] [--threads N] \
         [--write-data DIR | --data DIR] [--stats FILE]"
    );
    std::process::exit(2)
}

/// Knuth's MMIX 64-bit LCG; the top 53 bits make a uniform in (0, 1).
struct Lcg(u64);

impl Lcg {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normals in pairs (Box–Muller).
    fn normal_pair(&mut self) -> (f64, f64) {
        let (u1, u2) = (self.uniform(), self.uniform());
        let radius = (-2.0 * u1.ln()).sqrt();
        let angle = 2.0 * std::f64::consts::PI * u2;
        (radius * angle.cos(), radius * angle.sin())
    }
}

/// One column of one side: `side` 0 is the reference, 1 the current sample.
fn generate_column(column: usize, side: u64, rows: usize, out: &mut Vec<f64>) {
    let mut rng = Lcg(0x5eed_0000_0000_0000 ^ ((column as u64) << 8) ^ side);
    let mean = column as f64;
    let sd = 1.0 + (column % 4) as f64 * 0.5;
    let shift = match (side, column % 4) {
        (1, 1) => 0.01,
        (1, 3) => 0.25,
        _ => 0.0,
    };
    let log_normal = column % 5 == 4;
    let mut push = |z: f64| {
        let value = if log_normal {
            (0.5 * z + shift).exp()
        } else {
            mean + sd * (z + shift)
        };
        out.push(value);
    };
    let mut produced = 0;
    while produced < rows {
        let (a, b) = rng.normal_pair();
        push(a);
        produced += 1;
        if produced < rows {
            push(b);
            produced += 1;
        }
    }
}

fn generate(side: u64, rows: usize, columns: usize) -> Vec<f64> {
    let mut data = Vec::with_capacity(rows * columns);
    for column in 0..columns {
        generate_column(column, side, rows, &mut data);
    }
    data
}

fn write_f64s(path: &Path, values: &[f64]) -> std::io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    for value in values {
        out.write_all(&value.to_le_bytes())?;
    }
    out.flush()
}

fn read_f64s(path: &Path, expected: usize) -> std::io::Result<Vec<f64>> {
    let mut file = File::open(path)?;
    let mut values = Vec::with_capacity(expected);
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        if read % 8 != 0 {
            // Short reads are rare; top up to a whole value.
            let missing = 8 - read % 8;
            file.read_exact(&mut buffer[read..read + missing])?;
            decode(&buffer[..read + missing], &mut values);
        } else {
            decode(&buffer[..read], &mut values);
        }
    }
    if values.len() != expected {
        return Err(std::io::Error::other(format!(
            "{}: {} values, expected {expected}",
            path.display(),
            values.len()
        )));
    }
    Ok(values)
}

fn decode(bytes: &[u8], values: &mut Vec<f64>) {
    for chunk in bytes.chunks_exact(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        values.push(f64::from_le_bytes(word));
    }
}

/// A field of /proc/self/status in KiB (Linux; 0 elsewhere).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let rest = line.strip_prefix(field)?.strip_prefix(':')?;
                rest.trim().trim_end_matches("kB").trim().parse().ok()
            })
        })
        .unwrap_or(0)
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0: "5" into clear_refs).
fn reset_peak() {
    // Best effort: without it the peaks are the process's since start.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Runs `column_drifts` with `options` on every column, the columns spread over `threads`:
/// per column, one result per options entry.
fn run_part(
    reference: &[f64],
    current: &[f64],
    rows: usize,
    threads: usize,
    options: &[ColumnOptions],
) -> Vec<Vec<ColumnDrift>> {
    let columns = reference.len() / rows;
    let next = AtomicUsize::new(0);
    let mut results: Vec<(usize, Vec<ColumnDrift>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.min(columns))
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let column = next.fetch_add(1, Ordering::Relaxed);
                        if column >= columns {
                            break done;
                        }
                        let range = column * rows..(column + 1) * rows;
                        let drifts = column_drifts(
                            Column::Numeric(&reference[range.clone()]),
                            Column::Numeric(&current[range]),
                            options,
                        );
                        done.push((column, drifts));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().expect("a drift worker panicked"))
            .collect()
    });
    results.sort_by_key(|(column, _)| *column);
    results.into_iter().map(|(_, drifts)| drifts).collect()
}

struct Part {
    name: &'static str,
    seconds: f64,
    peak_kib: u64,
}

fn main() -> std::io::Result<()> {
    let args = parse_args();
    let (rows, columns) = (args.rows, args.columns);
    if let Some(dir) = &args.write_data {
        std::fs::create_dir_all(dir)?;
        for (side, name) in [(0, "ref.f64"), (1, "cur.f64")] {
            let data = generate(side, rows, columns);
            write_f64s(&dir.join(name), &data)?;
        }
        println!(
            "wrote {columns} columns × {rows} rows to {}/{{ref,cur}}.f64",
            dir.display()
        );
        return Ok(());
    }

    let start = Instant::now();
    let (reference, current) = match &args.data {
        Some(dir) => (
            read_f64s(&dir.join("ref.f64"), rows * columns)?,
            read_f64s(&dir.join("cur.f64"), rows * columns)?,
        ),
        None => (generate(0, rows, columns), generate(1, rows, columns)),
    };
    let data_bytes = (reference.len() + current.len()) * 8;
    let baseline_kib = status_kib("VmRSS");
    println!(
        "data: 2 × {columns} columns × {rows} rows = {:.1} MiB, loaded in {:.2} s (not timed); \
         RSS after loading {:.1} MiB; {} threads",
        data_bytes as f64 / (1 << 20) as f64,
        start.elapsed().as_secs_f64(),
        mib(baseline_kib),
        args.threads
    );

    let parts = [
        ("default", ColumnOptions::default()),
        (
            "psi",
            ColumnOptions {
                method: Some(Method::Psi),
                threshold: None,
            },
        ),
        (
            "ks",
            ColumnOptions {
                method: Some(Method::Ks),
                threshold: None,
            },
        ),
    ];
    let all_options: Vec<ColumnOptions> = parts.iter().map(|(_, options)| *options).collect();
    // The benchmark: the three statistics of each column from one preparation.
    reset_peak();
    let start = Instant::now();
    let together = run_part(&reference, &current, rows, args.threads, &all_options);
    let total = start.elapsed().as_secs_f64();
    let together_peak_kib = status_kib("VmHWM");
    println!(
        "     all: {total:8.3} s  peak RSS {:8.1} MiB ({:+.1} MiB over the loaded data)  \
         default, PSI and KS per column in one column_drifts call",
        mib(together_peak_kib),
        mib(together_peak_kib) - mib(baseline_kib),
    );
    // The breakdown: each part alone, preparing each column for its one statistic.
    let mut measured = Vec::new();
    for (name, options) in parts {
        reset_peak();
        let start = Instant::now();
        let results: Vec<ColumnDrift> = run_part(&reference, &current, rows, args.threads, &[options])
            .into_iter()
            .flatten()
            .collect();
        let seconds = start.elapsed().as_secs_f64();
        let peak_kib = status_kib("VmHWM");
        let drifted = results.iter().filter(|r| r.drifted).count();
        let methods: Vec<&str> = results.iter().map(|r| r.method.name()).collect();
        let mut distinct_methods = methods.clone();
        distinct_methods.dedup();
        println!(
            "{name:>8}: {seconds:8.3} s  peak RSS {:8.1} MiB ({:+.1} MiB over the loaded data)  \
             {drifted}/{columns} drifted  method {}  (alone)",
            mib(peak_kib),
            mib(peak_kib) - mib(baseline_kib),
            distinct_methods.join(",")
        );
        measured.push(Part {
            name,
            seconds,
            peak_kib,
        });
    }
    let parts_total: f64 = measured.iter().map(|p| p.seconds).sum();
    // Where the time goes: the preparation the statistics share (missing values dropped, both
    // samples copied and sorted), alone, on the same threads. Not in the total.
    let prepare = {
        let start = Instant::now();
        let next = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..args.threads.min(columns) {
                scope.spawn(|| {
                    loop {
                        let column = next.fetch_add(1, Ordering::Relaxed);
                        if column >= columns {
                            break;
                        }
                        let range = column * rows..(column + 1) * rows;
                        let r = NumericSample::new(&reference[range.clone()]);
                        let c = NumericSample::new(&current[range]);
                        std::hint::black_box((r.values.len(), c.values.len()));
                    }
                });
            }
        });
        start.elapsed().as_secs_f64()
    };
    println!(
        "  (prepare alone, copy + sort both samples of every column: {prepare:.3} s; the run of \
         all three does it once per column, each part alone once more)"
    );
    let peak = together_peak_kib;
    println!(
        "   total: {total:8.3} s (all three together; the parts alone sum to {parts_total:.3} s)  \
         peak RSS {:.1} MiB",
        mib(peak)
    );

    if let Some(path) = &args.stats {
        let mut out = BufWriter::new(File::create(path)?);
        writeln!(out, "column\tdefault_method\tdefault\tpsi\tks_p\tks_d")?;
        for (column, drifts) in together.iter().enumerate() {
            let range = column * rows..(column + 1) * rows;
            let mut r = reference[range.clone()].to_vec();
            let mut c = current[range].to_vec();
            r.sort_unstable_by(f64::total_cmp);
            c.sort_unstable_by(f64::total_cmp);
            let d = ks_two_sample(&r, &c).statistic;
            let stat = |part: usize| drifts[part].statistic.unwrap_or(f64::NAN);
            writeln!(
                out,
                "{column}\t{}\t{:e}\t{:e}\t{:e}\t{d:e}",
                drifts[0].method.name(),
                stat(0),
                stat(1),
                stat(2)
            )?;
        }
        out.flush()?;
    }

    let mut json = format!(
        "{{\"rows\":{rows},\"columns\":{columns},\"threads\":{},\"data_mib\":{:.1},\
         \"loaded_rss_mib\":{:.1},\"total_s\":{total:.4},\"peak_rss_mib\":{:.1}",
        args.threads,
        data_bytes as f64 / (1 << 20) as f64,
        mib(baseline_kib),
        mib(peak)
    );
    json.push_str(&format!(
        ",\"prepare_s\":{prepare:.4},\"parts_total_s\":{parts_total:.4}"
    ));
    for part in &measured {
        json.push_str(&format!(
            ",\"{0}_s\":{1:.4},\"{0}_peak_rss_mib\":{2:.1}",
            part.name,
            part.seconds,
            mib(part.peak_kib)
        ));
    }
    json.push('}');
    println!("RESULT {json}");
    Ok(())
}
