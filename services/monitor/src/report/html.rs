//! A drift report as one self-contained HTML page: inline CSS and inline SVG charts, nothing
//! loaded from anywhere else and no script, so it can be served as is, saved or mailed.
//!
//! The page holds a summary of the window (or "ad hoc comparison" when the report has no
//! window), the model's performance when labels exist, a table with one row per column
//! (method, statistic, threshold, verdict, missing shares) and, per column, the reference
//! and current distributions as grouped bars of each bin's share of its sample, so samples
//! of different sizes compare. A column without a statistic reads "not tested" with its note.
//! Every string that comes from users or data is escaped.

use std::fmt::{self, Write};

use lathe_contract::monitor::v1::{
    ColumnKind, ColumnResult, Distribution, Performance, Report, WindowResult,
};

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2rem auto;max-width:60rem;\
padding:0 1rem;color:#1f2328;background:#fff}\
h1{font-size:1.5rem;margin-bottom:.5rem}h2{font-size:1.15rem;margin:2rem 0 .25rem}\
dl.summary{display:grid;grid-template-columns:max-content auto;gap:.25rem 1rem;margin:1rem 0}\
dl.summary dt{color:#57606a}dl.summary dd{margin:0}\
table{border-collapse:collapse;margin:1rem 0}th,td{padding:.3rem .7rem;border-bottom:1px solid #d0d7de;\
text-align:left}td.number{text-align:right;font-variant-numeric:tabular-nums}\
.drift{color:#b42318;font-weight:600}.ok{color:#1a7f37}.untested{color:#57606a}\
.note{color:#57606a;font-size:.9em}\
svg.chart{display:block;max-width:100%;height:auto}\
svg text{font-size:11px;fill:#1f2328}svg .axis{stroke:#57606a;stroke-width:1}svg .grid{stroke:#d0d7de}";

/// The report as a self-contained HTML page titled `title` (see the module docs).
pub fn render(report: &Report, title: &str) -> String {
    let mut page = String::with_capacity(16 * 1024);
    write_page(&mut page, report, title).expect("formatting into a String does not fail");
    page
}

fn write_page(page: &mut String, report: &Report, title: &str) -> fmt::Result {
    let empty = WindowResult::default();
    let result = report.result.as_ref().unwrap_or(&empty);
    let title = escape(title);
    write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>\n"
    )?;
    write_summary(page, result)?;
    if let Some(performance) = &result.performance {
        write_performance(page, performance)?;
    }
    write_column_table(page, &result.columns)?;
    for column in &result.columns {
        let distribution = report.distributions.iter().find(|d| d.column == column.column);
        write_column_section(page, &column.column, Some(column), distribution)?;
    }
    // Distributions of columns the result does not list still get drawn.
    for distribution in &report.distributions {
        if !result.columns.iter().any(|c| c.column == distribution.column) {
            write_column_section(page, &distribution.column, None, Some(distribution))?;
        }
    }
    page.push_str("</body>\n</html>\n");
    Ok(())
}

fn write_summary(page: &mut String, result: &WindowResult) -> fmt::Result {
    page.push_str("<dl class=\"summary\">\n");
    if !result.project.is_empty() {
        writeln!(page, "<dt>Project</dt><dd>{}</dd>", escape(&result.project))?;
    }
    if !result.monitor.is_empty() {
        writeln!(page, "<dt>Monitor</dt><dd>{}</dd>", escape(&result.monitor))?;
    }
    match (&result.window_start, &result.window_end) {
        (None, None) => page.push_str("<dt>Window</dt><dd>ad hoc comparison</dd>\n"),
        (start, end) => writeln!(
            page,
            "<dt>Window</dt><dd>{} – {}</dd>",
            escape(&instant(start.as_ref())),
            escape(&instant(end.as_ref()))
        )?,
    }
    if let Some(checked_at) = &result.checked_at {
        writeln!(
            page,
            "<dt>Checked at</dt><dd>{}</dd>",
            escape(&checked_at.to_string())
        )?;
    }
    writeln!(page, "<dt>Rows</dt><dd>{}</dd>", result.rows)?;
    writeln!(page, "<dt>Reference rows</dt><dd>{}</dd>", result.reference_rows)?;
    let (class, verdict) = if result.drifted {
        ("drift", "dataset drift")
    } else {
        ("ok", "no dataset drift")
    };
    writeln!(
        page,
        "<dt>Verdict</dt><dd><span class=\"{class}\">{verdict}</span>: {}/{} columns drifted</dd>",
        result.drifted_columns,
        result.columns.len()
    )?;
    writeln!(
        page,
        "<dt>Drifted share</dt><dd>{} (drift at {} or more)</dd>",
        percent(result.drifted_share),
        percent(result.share_threshold)
    )?;
    if !result.alert_id.is_empty() {
        writeln!(page, "<dt>Alert</dt><dd>{}</dd>", escape(&result.alert_id))?;
    }
    page.push_str("</dl>\n");
    Ok(())
}

/// A window bound in RFC 3339, "…" when open.
fn instant(timestamp: Option<&impl ToString>) -> String {
    timestamp.map_or_else(|| "…".to_owned(), ToString::to_string)
}

fn write_performance(page: &mut String, performance: &Performance) -> fmt::Result {
    let metrics = [
        ("Accuracy", performance.accuracy),
        ("Precision", performance.precision),
        ("Recall", performance.recall),
        ("F1", performance.f1),
        ("ROC AUC", performance.roc_auc),
        ("MAE", performance.mae),
        ("RMSE", performance.rmse),
    ];
    if performance.labelled_rows == 0 && metrics.iter().all(|(_, value)| value.is_none()) {
        return Ok(());
    }
    page.push_str("<h2>Performance</h2>\n<table class=\"performance\">\n<tbody>\n");
    writeln!(
        page,
        "<tr><th>Labelled rows</th><td class=\"number\">{}</td></tr>",
        performance.labelled_rows
    )?;
    for (name, value) in metrics {
        if let Some(value) = value {
            writeln!(
                page,
                "<tr><th>{name}</th><td class=\"number\">{}</td></tr>",
                short_number(value)
            )?;
        }
    }
    page.push_str("</tbody>\n</table>\n");
    Ok(())
}

fn write_column_table(page: &mut String, columns: &[ColumnResult]) -> fmt::Result {
    page.push_str(
        "<h2>Columns</h2>\n<table class=\"columns\">\n<thead><tr><th>Column</th><th>Method</th>\
         <th>Statistic</th><th>Threshold</th><th>Verdict</th><th>Missing (reference)</th>\
         <th>Missing (current)</th></tr></thead>\n<tbody>\n",
    );
    for column in columns {
        writeln!(
            page,
            "<tr><td>{}</td><td>{}</td><td class=\"number\">{}</td><td class=\"number\">{}</td>\
             <td>{}</td><td class=\"number\">{}</td><td class=\"number\">{}</td></tr>",
            escape(&column.column),
            escape(&column.method),
            statistic_cell(column),
            short_number(column.threshold),
            verdict(column),
            percent(column.missing_share_reference),
            percent(column.missing_share_current),
        )?;
    }
    page.push_str("</tbody>\n</table>\n");
    Ok(())
}

/// The statistic, or "—" and the note saying why there is none.
fn statistic_cell(column: &ColumnResult) -> String {
    match column.statistic {
        Some(statistic) => short_number(statistic),
        None if column.note.is_empty() => "—".to_owned(),
        None => format!("— <span class=\"note\">({})</span>", escape(&column.note)),
    }
}

fn verdict(column: &ColumnResult) -> &'static str {
    match (column.statistic, column.drifted) {
        (_, true) => "<span class=\"drift\">drift</span>",
        (Some(_), false) => "<span class=\"ok\">no drift</span>",
        (None, false) => "<span class=\"untested\">not tested</span>",
    }
}

fn write_column_section(
    page: &mut String,
    name: &str,
    column: Option<&ColumnResult>,
    distribution: Option<&Distribution>,
) -> fmt::Result {
    writeln!(page, "<section class=\"column\">\n<h2>{}</h2>", escape(name))?;
    if let Some(column) = column {
        writeln!(
            page,
            "<p>{}: {} {}, threshold {}.",
            verdict(column),
            escape(&column.method),
            statistic_cell(column),
            short_number(column.threshold)
        )?;
        if column.statistic.is_some() && !column.note.is_empty() {
            write!(page, " <span class=\"note\">{}</span>", escape(&column.note))?;
        }
        page.push_str("</p>\n");
    }
    match distribution {
        Some(distribution) => write_chart(page, distribution)?,
        None => page.push_str("<p class=\"note\">No distribution was recorded for this column.</p>\n"),
    }
    page.push_str("</section>\n");
    Ok(())
}

const CHART_WIDTH: f64 = 720.0;
const CHART_HEIGHT: f64 = 280.0;
const MARGIN_LEFT: f64 = 60.0;
const MARGIN_RIGHT: f64 = 16.0;
const MARGIN_TOP: f64 = 34.0;
const MARGIN_BOTTOM: f64 = 84.0;
/// Most bin labels (drawn slanted) and bin edges (drawn level) on the x axis; beyond these
/// every k-th one is drawn.
const MAX_BIN_LABELS: usize = 24;
const MAX_EDGE_LABELS: usize = 12;
/// Bar colours, also set as attributes so a chart keeps them without the page's style.
const REFERENCE_COLOUR: &str = "#4c78a8";
const CURRENT_COLOUR: &str = "#f58518";
/// Characters of a category label drawn under its bars; the full label is in the tooltip.
const MAX_LABEL_CHARS: usize = 14;

/// Grouped bars of each bin's share of its sample, reference then current, with a legend
/// and axis labels (bin edges for equal-width bins, else one label per bin).
fn write_chart(page: &mut String, distribution: &Distribution) -> fmt::Result {
    let bins = distribution.reference.len().min(distribution.current.len());
    let reference = shares(&distribution.reference[..bins]);
    let current = shares(&distribution.current[..bins]);
    let reference_total: u64 = distribution.reference.iter().sum();
    let current_total: u64 = distribution.current.iter().sum();
    let plot_width = CHART_WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
    let plot_height = CHART_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM;
    let bottom = MARGIN_TOP + plot_height;
    let right = MARGIN_LEFT + plot_width;
    let top_share = reference.iter().chain(&current).copied().fold(0.0, f64::max);
    let scale = if top_share > 0.0 { top_share } else { 1.0 };

    writeln!(
        page,
        "<svg class=\"chart\" viewBox=\"0 0 {CHART_WIDTH} {CHART_HEIGHT}\" width=\"{CHART_WIDTH}\" \
         height=\"{CHART_HEIGHT}\" role=\"img\" aria-label=\"reference and current distributions of {}\">",
        escape(&distribution.column)
    )?;
    // Legend.
    writeln!(
        page,
        "<rect class=\"reference\" fill=\"{REFERENCE_COLOUR}\" x=\"{MARGIN_LEFT}\" y=\"8\" width=\"12\" height=\"12\"/>\
         <text x=\"{}\" y=\"18\">reference (n = {reference_total})</text>\
         <rect class=\"current\" fill=\"{CURRENT_COLOUR}\" x=\"{}\" y=\"8\" width=\"12\" height=\"12\"/>\
         <text x=\"{}\" y=\"18\">current (n = {current_total})</text>",
        MARGIN_LEFT + 16.0,
        MARGIN_LEFT + 200.0,
        MARGIN_LEFT + 216.0
    )?;
    // Y axis: gridlines at 0, half and the top share.
    for fraction in [0.0, 0.5, 1.0] {
        let y = bottom - fraction * plot_height;
        writeln!(
            page,
            "<line class=\"grid\" x1=\"{MARGIN_LEFT}\" y1=\"{y:.1}\" x2=\"{right}\" y2=\"{y:.1}\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            MARGIN_LEFT - 6.0,
            y + 4.0,
            percent(fraction * top_share)
        )?;
    }
    writeln!(
        page,
        "<text x=\"14\" y=\"{:.1}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {:.1})\">share of sample</text>",
        MARGIN_TOP + plot_height / 2.0,
        MARGIN_TOP + plot_height / 2.0
    )?;
    if bins == 0 {
        writeln!(
            page,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">no values in either sample</text>",
            MARGIN_LEFT + plot_width / 2.0,
            MARGIN_TOP + plot_height / 2.0
        )?;
    }
    let group = plot_width / bins.max(1) as f64;
    let bar = group * 0.4;
    let names = bin_names(distribution, bins);
    for bin in 0..bins {
        let group_left = MARGIN_LEFT + bin as f64 * group;
        for (class, colour, offset, share, count) in [
            (
                "reference",
                REFERENCE_COLOUR,
                0.1,
                reference[bin],
                distribution.reference[bin],
            ),
            (
                "current",
                CURRENT_COLOUR,
                0.5,
                current[bin],
                distribution.current[bin],
            ),
        ] {
            let height = share / scale * plot_height;
            writeln!(
                page,
                "<rect class=\"{class}\" fill=\"{colour}\" x=\"{:.2}\" y=\"{:.2}\" width=\"{bar:.2}\" height=\"{height:.2}\">\
                 <title>{} {class}: {} ({count})</title></rect>",
                group_left + offset * group,
                bottom - height,
                escape(&names[bin]),
                percent(share)
            )?;
        }
    }
    writeln!(
        page,
        "<line class=\"axis\" x1=\"{MARGIN_LEFT}\" y1=\"{bottom}\" x2=\"{right}\" y2=\"{bottom}\"/>\
         <line class=\"axis\" x1=\"{MARGIN_LEFT}\" y1=\"{MARGIN_TOP}\" x2=\"{MARGIN_LEFT}\" y2=\"{bottom}\"/>"
    )?;
    write_x_labels(page, distribution, bins, group, bottom)?;
    page.push_str("</svg>\n");
    Ok(())
}

/// The name of each bin for tooltips: its label, or its edges as `[a, b)` (`[a, b]` last).
fn bin_names(distribution: &Distribution, bins: usize) -> Vec<String> {
    (0..bins)
        .map(|bin| {
            if let Some(label) = distribution.labels.get(bin) {
                label.clone()
            } else if let (Some(low), Some(high)) =
                (distribution.edges.get(bin), distribution.edges.get(bin + 1))
            {
                let close = if bin + 1 == bins { ']' } else { ')' };
                format!("[{}, {}{close}", short_number(*low), short_number(*high))
            } else {
                format!("bin {}", bin + 1)
            }
        })
        .collect()
}

fn write_x_labels(
    page: &mut String,
    distribution: &Distribution,
    bins: usize,
    group: f64,
    bottom: f64,
) -> fmt::Result {
    let label_y = bottom + 14.0;
    let binned = distribution.labels.is_empty() && distribution.edges.len() == bins + 1 && bins > 0;
    let (positions, most, axis_title) = if binned {
        (bins + 1, MAX_EDGE_LABELS, "bin edges")
    } else if distribution.kind == i32::from(ColumnKind::Categorical) {
        (bins, MAX_BIN_LABELS, "category")
    } else {
        (bins, MAX_BIN_LABELS, "value")
    };
    let every = positions.div_ceil(most).max(1);
    for position in (0..positions).step_by(every) {
        let (x, text, anchor_rotated) = if binned {
            (
                MARGIN_LEFT + position as f64 * group,
                short_number(distribution.edges[position]),
                false,
            )
        } else {
            let label = distribution.labels.get(position).cloned().unwrap_or_default();
            (
                MARGIN_LEFT + (position as f64 + 0.5) * group,
                truncate(&label),
                true,
            )
        };
        if anchor_rotated {
            writeln!(
                page,
                "<text x=\"{x:.2}\" y=\"{label_y:.1}\" text-anchor=\"end\" \
                 transform=\"rotate(-40 {x:.2} {label_y:.1})\">{}</text>",
                escape(&text)
            )?;
        } else {
            writeln!(
                page,
                "<line class=\"axis\" x1=\"{x:.2}\" y1=\"{bottom}\" x2=\"{x:.2}\" y2=\"{:.1}\"/>\
                 <text x=\"{x:.2}\" y=\"{label_y:.1}\" text-anchor=\"middle\">{}</text>",
                bottom + 4.0,
                escape(&text)
            )?;
        }
    }
    writeln!(
        page,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{axis_title}</text>",
        MARGIN_LEFT + (CHART_WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / 2.0,
        CHART_HEIGHT - 6.0
    )
}

/// Each count's share of the sample; all zero for an empty sample.
fn shares(counts: &[u64]) -> Vec<f64> {
    let total: u64 = counts.iter().sum();
    counts
        .iter()
        .map(|&count| {
            if total == 0 {
                0.0
            } else {
                count as f64 / total as f64
            }
        })
        .collect()
}

fn truncate(label: &str) -> String {
    if label.chars().count() <= MAX_LABEL_CHARS {
        label.to_owned()
    } else {
        let mut short: String = label.chars().take(MAX_LABEL_CHARS - 1).collect();
        short.push('…');
        short
    }
}

/// A share as a percentage with one decimal.
fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// A statistic for reading: four significant digits, scientific notation when very small or
/// large.
fn short_number(value: f64) -> String {
    let magnitude = value.abs();
    if value == 0.0 {
        return "0".to_owned();
    }
    if !value.is_finite() {
        return value.to_string();
    }
    if !(1e-3..1e6).contains(&magnitude) {
        return format!("{value:.3e}");
    }
    let decimals = (3 - magnitude.log10().floor() as i32).max(0) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// Text made safe for HTML content and attribute values.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, method: &str, statistic: Option<f64>, drifted: bool, note: &str) -> ColumnResult {
        ColumnResult {
            column: name.to_owned(),
            method: method.to_owned(),
            statistic,
            threshold: if method == "ks" { 0.05 } else { 0.1 },
            drifted,
            missing_share_reference: 0.0,
            missing_share_current: 0.125,
            note: note.to_owned(),
        }
    }

    fn report() -> Report {
        let columns = vec![
            column("fare", "wasserstein", Some(0.4321987), true, ""),
            column(
                "<script>alert('x')</script>",
                "chisquare",
                Some(0.000012345),
                true,
                "",
            ),
            column(
                "tip",
                "ks",
                None,
                false,
                "the current sample has no non-missing values <empty>",
            ),
            column("zone", "jensenshannon", Some(0.0123), false, ""),
        ];
        let distributions = vec![
            Distribution {
                column: "fare".to_owned(),
                kind: ColumnKind::Numeric.into(),
                edges: vec![0.0, 2.5, 5.0, 7.5, 10.0],
                labels: vec![],
                reference: vec![10, 20, 30, 40],
                current: vec![1, 2, 3, 4],
            },
            Distribution {
                column: "<script>alert('x')</script>".to_owned(),
                kind: ColumnKind::Categorical.into(),
                edges: vec![],
                labels: vec!["a&b".to_owned(), "<img src=x>".to_owned(), "(other)".to_owned()],
                reference: vec![5, 3, 1],
                current: vec![0, 9, 1],
            },
            Distribution {
                column: "tip".to_owned(),
                kind: ColumnKind::Numeric.into(),
                edges: vec![],
                labels: vec!["1".to_owned()],
                reference: vec![7],
                current: vec![0],
            },
            Distribution {
                column: "zone".to_owned(),
                kind: ColumnKind::Categorical.into(),
                ..Distribution::default()
            },
        ];
        Report {
            result: Some(WindowResult {
                project: "taxi".to_owned(),
                monitor: "fares".to_owned(),
                rows: 1000,
                reference_rows: 5000,
                drifted_columns: 2,
                drifted_share: 0.5,
                share_threshold: 0.5,
                drifted: true,
                columns,
                performance: Some(Performance {
                    labelled_rows: 80,
                    accuracy: Some(0.9125),
                    roc_auc: Some(0.5),
                    ..Performance::default()
                }),
                ..WindowResult::default()
            }),
            distributions,
            html: String::new(),
        }
    }

    /// Checks that every element opened is closed in order (void elements and `/>` aside).
    fn assert_balanced(page: &str) {
        const VOID: [&str; 2] = ["meta", "!DOCTYPE"];
        let mut open: Vec<String> = Vec::new();
        let mut rest = page;
        while let Some(start) = rest.find('<') {
            let end = start + rest[start..].find('>').expect("every tag is closed by >");
            let tag = &rest[start + 1..end];
            rest = &rest[end + 1..];
            let name: String = tag
                .trim_start_matches('/')
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '/')
                .collect();
            if tag.starts_with('/') {
                assert_eq!(open.pop().as_deref(), Some(name.as_str()), "unbalanced </{name}>");
            } else if !tag.ends_with('/') && !VOID.contains(&name.as_str()) {
                open.push(name);
            }
        }
        assert!(open.is_empty(), "unclosed elements {open:?}");
    }

    #[test]
    fn the_page_shows_every_column_with_its_statistic_and_verdict() {
        let page = render(&report(), "Drift report: taxi/fares");
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(page.contains("<title>Drift report: taxi/fares</title>"));
        for expected in [
            "fare",
            "wasserstein",
            "0.4322",
            "1.234e-5",
            "chisquare",
            "jensenshannon",
            "0.0123",
            "zone",
            "taxi",
            "fares",
            "1000",
            "5000",
            "2/4 columns drifted",
            "50.0%",
            "12.5%",
        ] {
            assert!(page.contains(expected), "the page lacks {expected:?}");
        }
        assert_eq!(page.matches("<span class=\"drift\">drift</span>").count(), 2 * 2);
        assert_eq!(page.matches("<span class=\"ok\">no drift</span>").count(), 2);
        assert_eq!(page.matches("not tested").count(), 2);
        assert!(page.contains(
            "— <span class=\"note\">(the current sample has no non-missing values &lt;empty&gt;)</span>"
        ));
        assert!(page.contains("<th>Accuracy</th><td class=\"number\">0.9125</td>"));
        assert!(page.contains("<th>ROC AUC</th><td class=\"number\">0.5</td>"));
        assert!(!page.contains("RMSE"), "unset metrics are not shown");
        assert!(page.contains("<dd>… – …</dd>") || page.contains("ad hoc comparison"));
    }

    #[test]
    fn user_strings_are_escaped() {
        let page = render(&report(), "<b>title</b>");
        assert!(!page.contains("<script"));
        assert!(!page.contains("<img"));
        assert!(!page.contains("<b>"));
        assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assert!(page.contains("a&amp;b"));
        assert!(page.contains("&lt;b&gt;title&lt;/b&gt;"));
    }

    #[test]
    fn the_page_is_self_contained_and_balanced() {
        let page = render(&report(), "report");
        for external in ["http:", "https:", "url(", "@import", "<script", "<link", "<img"] {
            assert!(!page.contains(external), "the page refers outside: {external}");
        }
        for tag in page
            .split('<')
            .skip(1)
            .map(|rest| rest.split('>').next().unwrap_or_default())
        {
            assert!(
                !tag.contains("src=") && !tag.contains("href="),
                "a tag loads something: <{tag}>"
            );
        }
        assert_eq!(page.matches("<svg").count(), 4);
        assert_eq!(page.matches("</svg>").count(), 4);
        assert_eq!(
            page.matches("<section").count(),
            page.matches("</section>").count()
        );
        assert_balanced(&page);
    }

    #[test]
    fn charts_draw_shares_so_sample_sizes_compare() {
        let page = render(&report(), "report");
        let fare = &page[page
            .find("aria-label=\"reference and current distributions of fare\"")
            .unwrap()..];
        let fare = &fare[..fare.find("</svg>").unwrap()];
        // Each current count is a tenth of the reference one: the same shares, equal bars.
        let heights: Vec<f64> = fare
            .split("height=\"")
            .skip(3)
            .filter_map(|rest| rest.split('"').next()?.parse().ok())
            .collect();
        assert_eq!(heights.len(), 8, "{heights:?}");
        for bin in heights.chunks(2) {
            assert_eq!(bin[0], bin[1], "{heights:?}");
        }
        assert!(
            heights[0] < heights[6],
            "taller bars for larger shares: {heights:?}"
        );
        assert!(fare.contains("[7.5, 10] reference: 40.0% (40)"));
        for edge in [">0<", ">2.5<", ">5<", ">7.5<", ">10<"] {
            assert!(fare.contains(edge), "edge label {edge} missing");
        }
        assert!(fare.contains("reference (n = 100)") && fare.contains("current (n = 10)"));
        assert!(page.contains("no values in either sample"));
    }

    #[test]
    fn crowded_axes_draw_every_kth_label() {
        let bins = 40;
        let binned = Distribution {
            column: "wide".to_owned(),
            kind: ColumnKind::Numeric.into(),
            edges: (0..=bins).map(f64::from).collect(),
            reference: vec![1; bins as usize],
            current: vec![2; bins as usize],
            ..Distribution::default()
        };
        let mut page = String::new();
        write_chart(&mut page, &binned).unwrap();
        let level_labels = page.matches("text-anchor=\"middle\">").count() - 1; // the axis title
        assert!(
            (MAX_EDGE_LABELS / 2..=MAX_EDGE_LABELS).contains(&level_labels),
            "{level_labels} edge labels"
        );
        assert!(page.contains(">0<") && page.contains("bin edges"));
        assert_eq!(page.matches("<rect class=\"reference\"").count(), 1 + 40);
    }

    #[test]
    fn a_report_without_a_window_is_an_ad_hoc_comparison() {
        let mut report = report();
        report.result.as_mut().unwrap().project.clear();
        report.result.as_mut().unwrap().monitor.clear();
        let page = render(&report, "compare");
        assert!(page.contains("ad hoc comparison"));
        assert!(!page.contains("<dt>Monitor</dt>"));
    }

    #[test]
    fn statistics_read_with_four_significant_digits() {
        assert_eq!(short_number(0.43219), "0.4322");
        assert_eq!(short_number(0.05), "0.05");
        assert_eq!(short_number(1234.5678), "1235");
        assert_eq!(short_number(1.0), "1");
        assert_eq!(short_number(0.00001234), "1.234e-5");
        assert_eq!(short_number(0.0), "0");
    }
}
