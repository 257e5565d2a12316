//! Perplexity as llama.cpp's `llama-perplexity` computes it (tools/perplexity/perplexity.cpp,
//! `ppl_stride` 0, one sequence per chunk).

use super::SessionError;
use crate::model::forward::{GpuModel, RunError};

/// The result of [`GpuModel::perplexity`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Perplexity {
    /// Chunks scored and tokens scored (ctx − 1 − ctx/2 per chunk).
    pub chunks: usize,
    pub scored: usize,
    /// Mean negative log-likelihood (nats) and its exponential.
    pub nll: f64,
    pub ppl: f64,
    /// llama-perplexity's "+/-": the standard error of the mean NLL, times PPL.
    pub ppl_stderr: f64,
}

impl GpuModel {
    /// Perplexity of `tokens` (already tokenized, BOS included as the vocabulary asks):
    /// chunks of `ctx` tokens, each evaluated in an empty session with its first token replaced
    /// by `bos` (when given); for each chunk the negative log-likelihood of tokens
    /// ctx/2 + 1 .. ctx − 1 from the logits of the position before, −log softmax summed in f64;
    /// PPL = exp(mean). At most `max_chunks` chunks. Fails (typed) with fewer than 2 · ctx
    /// tokens.
    pub async fn perplexity(&self, tokens: &[u32], ctx: u32, bos: Option<u32>, max_chunks: Option<usize>) -> Result<Perplexity, SessionError> {
        let n_ctx = ctx as usize;
        if ctx < 4 || tokens.len() < 2 * n_ctx {
            return Err(SessionError::Range { what: "tokens for perplexity (2 × ctx at least)", value: tokens.len() as i64, min: 2 * n_ctx.max(4) as i64, max: i64::MAX });
        }
        let n_chunk = (tokens.len() / n_ctx).min(max_chunks.unwrap_or(usize::MAX)).max(1);
        let v = self.hp.n_vocab as usize;
        let first = n_ctx / 2;
        let (mut nll, mut nll2, mut count) = (0f64, 0f64, 0usize);
        for c in 0..n_chunk {
            let mut chunk = tokens[c * n_ctx..(c + 1) * n_ctx].to_vec();
            if let Some(b) = bos {
                chunk[0] = b;
            }
            let mut s = self.new_session(ctx);
            // positions 0 .. first: memory only; first .. ctx − 1: logits, a piece at a time
            self.forward(&mut s, &chunk[..first], false).await?;
            let mut at = first;
            while at < n_ctx - 1 {
                let end = (at + 64).min(n_ctx - 1);
                let logits = self.forward(&mut s, &chunk[at..end], true).await?;
                for (k, row) in logits.chunks(v).enumerate() {
                    let next = chunk[at + k + 1] as usize;
                    let mx = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
                    if !mx.is_finite() {
                        return Err(RunError::NonFinite.into());
                    }
                    let sum: f64 = row.iter().map(|&l| ((l - mx) as f64).exp()).sum();
                    let lp = (row[next] - mx) as f64 - sum.ln();
                    nll -= lp;
                    nll2 += lp * lp;
                    count += 1;
                }
                at = end;
            }
        }
        let mean = nll / count as f64;
        let ppl = mean.exp();
        let var = nll2 / count as f64 - mean * mean;
        let ppl_stderr = if var > 0.0 && count > 1 { (var / (count - 1) as f64).sqrt() * ppl } else { 0.0 };
        Ok(Perplexity { chunks: n_chunk, scored: count, nll: mean, ppl, ppl_stderr })
    }
}
