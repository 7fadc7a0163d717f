//! A run's metric windows as CSV: what `train --log FILE.csv` writes, one row per window
//! of training (about 2,000 images) and one per evaluation, so a run can be charted and
//! compared with others. The columns are fixed (`HEADER`); `parse` reads such a file back
//! and refuses anything else with the line and column at fault.

use crate::error::Error;

/// The columns, in order.
pub const HEADER: &str = "kind,epoch,step,steps_per_epoch,seconds,examples,loss,accuracy,images_per_s";

/// What a row measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A window of training steps: their mean loss and accuracy.
    Train,
    /// The validation split, at an epoch's end.
    Validation,
    /// The test set, at an epoch's end.
    Test,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Train => "train",
            Kind::Validation => "validation",
            Kind::Test => "test",
        }
    }
}

/// One row.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub kind: Kind,
    /// Where the run stood after the window (epochs from 1, steps within the epoch).
    pub epoch: usize,
    pub step: usize,
    pub steps_per_epoch: usize,
    /// Seconds of training so far (evaluations not counted).
    pub seconds: f64,
    pub examples: usize,
    pub loss: f64,
    pub accuracy: f64,
    /// Training windows only.
    pub images_per_s: Option<f64>,
}

impl Window {
    /// The row as CSV (no line break).
    pub fn csv(&self) -> String {
        let rate = self.images_per_s.map(|r| format!("{r:.1}")).unwrap_or_default();
        format!(
            "{},{},{},{},{:.3},{},{:.6},{:.6},{rate}",
            self.kind.name(),
            self.epoch,
            self.step,
            self.steps_per_epoch,
            self.seconds,
            self.examples,
            self.loss,
            self.accuracy
        )
    }
}

/// A row of `kind` from metrics measured with the trainer where it stands now.
pub fn window(kind: Kind, trainer: &super::Trainer, seconds: f64, m: super::Metrics) -> Window {
    Window {
        kind,
        epoch: trainer.epoch,
        step: trainer.step_in_epoch,
        steps_per_epoch: trainer.steps_per_epoch,
        seconds,
        examples: m.examples,
        loss: m.loss,
        accuracy: m.accuracy,
        images_per_s: None,
    }
}

/// Reads a metrics log (`HEADER`, then rows); a file that is not one is an error naming
/// the line and the column at fault.
pub fn parse(name: &str, text: &str) -> Result<Vec<Window>, Error> {
    let bad = |line: usize, what: String| Error::BadFile(format!("{name}: line {line}: {what}"));
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim_end_matches('\r')));
    match lines.next() {
        Some((_, header)) if header == HEADER => {}
        Some((_, header)) => return Err(bad(1, format!("the header is not a metrics log's ({HEADER}), but: {header:.80}"))),
        None => return Err(bad(1, "the file is empty".into())),
    }
    let columns: Vec<&str> = HEADER.split(',').collect();
    let mut rows = Vec::new();
    for (line, text) in lines.filter(|(_, l)| !l.is_empty()) {
        let cells: Vec<&str> = text.split(',').collect();
        if cells.len() != columns.len() {
            return Err(bad(line, format!("{} columns, a metrics log has {}", cells.len(), columns.len())));
        }
        let cell = |i: usize| cells[i].trim();
        let whole = |i: usize| {
            cell(i)
                .parse::<usize>()
                .map_err(|_| bad(line, format!("column {} ({}): '{}' is not a whole number", i + 1, columns[i], cell(i))))
        };
        let real = |i: usize| match cell(i).parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(bad(line, format!("column {} ({}): '{}' is not a finite number", i + 1, columns[i], cell(i)))),
        };
        let kind = match cell(0) {
            "train" => Kind::Train,
            "validation" => Kind::Validation,
            "test" => Kind::Test,
            other => return Err(bad(line, format!("column 1 (kind): '{other}' is not train, validation or test"))),
        };
        let images_per_s = if cell(8).is_empty() { None } else { Some(real(8)?) };
        rows.push(Window {
            kind,
            epoch: whole(1)?,
            step: whole(2)?,
            steps_per_epoch: whole(3)?,
            seconds: real(4)?,
            examples: whole(5)?,
            loss: real(6)?,
            accuracy: real(7)?,
            images_per_s,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_reads_back_as_written_and_anything_else_is_refused_with_line_and_column() {
        let rows = vec![
            Window {
                kind: Kind::Train,
                epoch: 1,
                step: 31,
                steps_per_epoch: 234,
                seconds: 0.25,
                examples: 2048,
                loss: 1.5,
                accuracy: 0.5,
                images_per_s: Some(8192.0),
            },
            Window {
                kind: Kind::Test,
                epoch: 1,
                step: 234,
                steps_per_epoch: 234,
                seconds: 2.0,
                examples: 10000,
                loss: 0.05,
                accuracy: 0.99,
                images_per_s: None,
            },
        ];
        let text = std::iter::once(HEADER.to_string()).chain(rows.iter().map(Window::csv)).collect::<Vec<_>>().join("\n");
        assert_eq!(parse("run.csv", &text).unwrap(), rows);
        for (text, words) in [
            ("a,b\n", "line 1"),
            ("", "empty"),
            (&format!("{HEADER}\ntrain,1,2,3,4\n") as &str, "line 2: 5 columns"),
            (&format!("{HEADER}\ntrain,1,2,3,0.5,64,nan,0.5,\n"), "line 2: column 7 (loss)"),
            (&format!("{HEADER}\n{}\nfoo,1,2,3,0.5,64,1,0.5,\n", rows[0].csv()), "line 3: column 1 (kind)"),
            (&format!("{HEADER}\ntrain,x,2,3,0.5,64,1,0.5,\n"), "line 2: column 2 (epoch)"),
        ] {
            let e = parse("run.csv", text).expect_err(text).to_string();
            assert!(e.contains("run.csv") && e.contains(words), "'{words}' missing from: {e}");
        }
    }
}
