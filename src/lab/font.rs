//! The font plotters draws text with.

use anyhow::{anyhow, Result};
use plotters::style::{register_font, FontStyle};

const FONT_PATHS: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

/// plotters' ab_glyph backend needs a font registered once; we use DejaVu Sans (Debian's
/// fonts-dejavu-core, installed by vm/setup.sh).
pub fn ensure() -> Result<()> {
    static DONE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let bytes = FONT_PATHS.iter().find_map(|p| std::fs::read(p).ok())
            .ok_or_else(|| format!("no DejaVuSans.ttf found (looked in {FONT_PATHS:?}; apt install fonts-dejavu-core)"))?;
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        register_font("sans-serif", FontStyle::Normal, bytes).map_err(|_| "cannot register DejaVu Sans".to_string())
    })
    .clone()
    .map_err(|e| anyhow!(e))
}
