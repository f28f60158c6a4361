//! PNG plots of a training report: the confusion matrix and the feature importance.

use std::path::Path;

use anyhow::{Context, Result};
use plotters::prelude::*;

/// A heat map of confusion[true][predicted], row-normalised, with counts.
pub fn confusion_png(path: &Path, title: &str, classes: &[String], confusion: &[Vec<usize>]) -> Result<()> {
    // Drawn to a temp file and renamed into place, like every file the lab writes.
    scx_mimic::fsutil::write_atomic_with(path, |tmp| draw_confusion_png(tmp, title, classes, confusion))
}

fn draw_confusion_png(path: &Path, title: &str, classes: &[String], confusion: &[Vec<usize>]) -> Result<()> {
    crate::font::ensure()?;
    let n = classes.len();
    let cell = 56u32;
    let (w, h) = (170 + cell * n as u32 + 20, 90 + cell * n as u32 + 110);
    let root = BitMapBackend::new(path, (w, h)).into_drawing_area();
    root.fill(&WHITE)?;
    root.draw(&Text::new(title.to_string(), (10, 10), ("sans-serif", 18).into_font()))?;
    root.draw(&Text::new("true class (rows) vs predicted class (columns), row-normalised",
                         (10, 36), ("sans-serif", 12).into_font().color(&BLACK.mix(0.7))))?;
    let (x0, y0) = (160i32, 70i32);
    for t in 0..n {
        let total: usize = confusion[t].iter().sum::<usize>().max(1);
        root.draw(&Text::new(classes[t].clone(), (8, y0 + (t as i32) * cell as i32 + cell as i32 / 2 - 6), ("sans-serif", 13).into_font()))?;
        for p in 0..n {
            let frac = confusion[t][p] as f64 / total as f64;
            let color = RGBColor((255.0 * (1.0 - frac)) as u8, (255.0 * (1.0 - 0.6 * frac)) as u8, 255);
            let (x, y) = (x0 + (p as i32) * cell as i32, y0 + (t as i32) * cell as i32);
            root.draw(&Rectangle::new([(x, y), (x + cell as i32 - 2, y + cell as i32 - 2)], color.filled()))?;
            let txt_color = if frac > 0.55 { WHITE } else { BLACK };
            root.draw(&Text::new(format!("{}", confusion[t][p]), (x + 6, y + cell as i32 / 2 - 6),
                                 ("sans-serif", 12).into_font().color(&txt_color)))?;
        }
    }
    for p in 0..n {
        let x = x0 + (p as i32) * cell as i32 + 4;
        let y = y0 + (n as i32) * cell as i32 + 8;
        root.draw(&Text::new(classes[p].clone(), (x, y), ("sans-serif", 11).into_font().transform(FontTransform::Rotate90)))?;
    }
    root.present().with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Horizontal bars of feature importance (relative impurity decrease), largest first.
pub fn importance_png(path: &Path, title: &str, names: &[&str], importance: &[f64]) -> Result<()> {
    // Drawn to a temp file and renamed into place, like every file the lab writes.
    scx_mimic::fsutil::write_atomic_with(path, |tmp| draw_importance_png(tmp, title, names, importance))
}

fn draw_importance_png(path: &Path, title: &str, names: &[&str], importance: &[f64]) -> Result<()> {
    crate::font::ensure()?;
    let mut items: Vec<(&str, f64)> = names.iter().copied().zip(importance.iter().copied()).collect();
    items.sort_by(|a, b| b.1.total_cmp(&a.1));
    let root = BitMapBackend::new(path, (720, 80 + 28 * items.len() as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let max = items.iter().map(|i| i.1).fold(0.0, f64::max).max(1e-9);
    let n = items.len();
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(140)
        .build_cartesian_2d(0.0..max * 1.1, -0.5..(n as f64 - 0.5))?;
    // Largest at the top.
    let row = |i: usize| (n - 1 - i) as f64;
    let labels: Vec<String> = items.iter().map(|i| i.0.to_string()).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_max_light_lines(1)
        .y_labels(n)
        .y_label_formatter(&|y| {
            let r = y.round();
            if (y - r).abs() > 0.01 || r < 0.0 || r as usize >= n { return String::new(); }
            labels.get(n - 1 - r as usize).cloned().unwrap_or_default()
        })
        .x_desc("relative impurity decrease")
        .draw()?;
    chart.draw_series(items.iter().enumerate().map(|(i, (_, v))| {
        Rectangle::new([(0.0, row(i) - 0.35), (*v, row(i) + 0.35)], BLUE.mix(0.6).filled())
    }))?;
    root.present().with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
