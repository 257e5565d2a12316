//! Samplers, applied in llama.cpp's default order: repetition / presence / frequency
//! penalties → top-k → top-p → min-p → temperature → a draw from the distribution (or the
//! argmax when the temperature is 0). A seed makes runs reproducible.

use crate::rng::Rng;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplerConfig {
    /// 0 (or less): greedy.
    pub temperature: f32,
    /// 0: off.
    pub top_k: usize,
    /// 1: off.
    pub top_p: f32,
    /// 0: off.
    pub min_p: f32,
    /// 1: off. Divides positive logits, multiplies negative ones, of recent tokens.
    pub repeat_penalty: f32,
    /// Subtracted once from the logit of each token seen recently.
    pub presence_penalty: f32,
    /// Subtracted per occurrence.
    pub frequency_penalty: f32,
    /// How many recent tokens the penalties look at.
    pub penalty_last_n: usize,
    pub seed: u64,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            penalty_last_n: 64,
            seed: 0,
        }
    }
}

impl SamplerConfig {
    pub fn greedy() -> Self {
        SamplerConfig { temperature: 0.0, ..Default::default() }
    }

    /// Checks the ranges; the message names the bad field.
    pub fn validate(&self) -> Result<(), String> {
        let finite = [self.temperature, self.top_p, self.min_p, self.repeat_penalty, self.presence_penalty, self.frequency_penalty];
        if finite.iter().any(|v| !v.is_finite()) {
            return Err("sampler parameters must be finite numbers".into());
        }
        if !(0.0..=1.0).contains(&self.top_p) {
            return Err(format!("topP must be in [0, 1], got {}", self.top_p));
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return Err(format!("minP must be in [0, 1], got {}", self.min_p));
        }
        if self.repeat_penalty <= 0.0 {
            return Err(format!("repeatPenalty must be > 0, got {}", self.repeat_penalty));
        }
        Ok(())
    }
}

pub struct Sampler {
    pub cfg: SamplerConfig,
    rng: Rng,
}

impl Sampler {
    pub fn new(cfg: SamplerConfig) -> Sampler {
        Sampler { cfg, rng: Rng::new(cfg.seed ^ 0x5EED) }
    }

    /// The next token given the logits of the last position and the tokens so far.
    ///
    /// Non-finite logits: NaN and −∞ are never chosen; +∞ wins outright (uniformly among
    /// several). Errors when no logit is a number above −∞. Extreme settings give their limit:
    /// a temperature so small that every ratio overflows is the argmax, a huge one the uniform
    /// choice among what the truncations keep; top-p 0 and min-p 1 keep the most likely token
    /// only (ties kept).
    pub fn sample(&mut self, logits: &[f32], history: &[u32]) -> Result<u32, SampleError> {
        let c = self.cfg;
        let mut l: Vec<f32> = logits.to_vec();
        penalize(&mut l, history, &c);
        // Candidates: every token whose logit is a number above −∞.
        let mut cand: Vec<(u32, f32)> = l.iter().enumerate().filter(|(_, v)| !v.is_nan() && **v != f32::NEG_INFINITY).map(|(i, &v)| (i as u32, v)).collect();
        if cand.is_empty() {
            return Err(SampleError::NoFiniteLogits { n: logits.len() });
        }
        if cand.iter().any(|x| x.1 == f32::INFINITY) {
            cand.retain(|x| x.1 == f32::INFINITY);
            if c.temperature <= 0.0 || cand.len() == 1 {
                return Ok(cand[0].0);
            }
            let i = (self.rng.next_u64() % cand.len() as u64) as usize;
            return Ok(cand[i].0);
        }
        if c.temperature <= 0.0 {
            return Ok(cand.iter().fold(cand[0], |b, x| if x.1 > b.1 { *x } else { b }).0);
        }
        cand.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        if c.top_k > 0 {
            cand.truncate(c.top_k.max(1));
        }
        // Probabilities at temperature t, from differences to the largest logit (never ∞ − ∞).
        let probs = |cand: &[(u32, f32)], t: f32| -> Vec<f64> {
            let m = cand[0].1;
            let e: Vec<f64> = cand.iter().map(|(_, v)| ((*v as f64 - m as f64) / t as f64).exp()).collect();
            let s: f64 = e.iter().sum();
            e.into_iter().map(|x| x / s).collect()
        };
        if c.top_p < 1.0 {
            let p = probs(&cand, 1.0);
            let mut cum = 0.0;
            let mut keep = cand.len();
            for (i, pi) in p.iter().enumerate() {
                cum += pi;
                if cum >= c.top_p as f64 {
                    keep = i + 1;
                    break;
                }
            }
            cand.truncate(keep.max(1));
        }
        if c.min_p > 0.0 {
            let p = probs(&cand, 1.0);
            let keep = p.iter().take_while(|&&pi| pi >= c.min_p as f64 * p[0]).count();
            cand.truncate(keep.max(1));
        }
        let p = probs(&cand, c.temperature);
        let r = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let mut cum = 0.0f64;
        for (i, pi) in p.iter().enumerate() {
            cum += *pi;
            if r < cum {
                return Ok(cand[i].0);
            }
        }
        Ok(cand[cand.len() - 1].0)
    }
}

/// Why no token could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SampleError {
    #[error("none of the {n} logits is a number above -infinity (the model produced NaN or -inf everywhere)")]
    NoFiniteLogits { n: usize },
}

/// Repetition (llama.cpp: divide positive, multiply negative logits), frequency and presence
/// penalties over the last `penalty_last_n` tokens.
pub fn penalize(logits: &mut [f32], history: &[u32], c: &SamplerConfig) {
    if c.penalty_last_n == 0 || (c.repeat_penalty == 1.0 && c.presence_penalty == 0.0 && c.frequency_penalty == 0.0) {
        return;
    }
    let recent = &history[history.len().saturating_sub(c.penalty_last_n)..];
    let mut counts = std::collections::HashMap::new();
    for &t in recent {
        *counts.entry(t).or_insert(0u32) += 1;
    }
    for (&t, &n) in &counts {
        let Some(l) = logits.get_mut(t as usize) else { continue };
        if *l > 0.0 {
            *l /= c.repeat_penalty;
        } else {
            *l *= c.repeat_penalty;
        }
        *l -= n as f32 * c.frequency_penalty + c.presence_penalty;
    }
}

/// The index of the largest value, NaN never chosen (the first of equal ones; 0 when every
/// value is NaN).
pub fn argmax(v: &[f32]) -> u32 {
    let mut best: Option<usize> = None;
    for (i, &x) in v.iter().enumerate() {
        if !x.is_nan() && best.map_or(true, |b| x > v[b]) {
            best = Some(i);
        }
    }
    best.unwrap_or(0) as u32
}
