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
    pub fn sample(&mut self, logits: &[f32], history: &[u32]) -> u32 {
        let c = self.cfg;
        let mut l: Vec<f32> = logits.to_vec();
        penalize(&mut l, history, &c);
        if c.temperature <= 0.0 {
            return argmax(&l);
        }
        let mut cand: Vec<(u32, f32)> = l.iter().enumerate().map(|(i, &v)| (i as u32, v)).collect();
        cand.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        if c.top_k > 0 {
            cand.truncate(c.top_k.max(1));
        }
        let probs = |cand: &[(u32, f32)]| -> Vec<f32> {
            let m = cand[0].1;
            let e: Vec<f32> = cand.iter().map(|(_, v)| (v - m).exp()).collect();
            let s: f32 = e.iter().sum();
            e.into_iter().map(|x| x / s).collect()
        };
        if c.top_p < 1.0 {
            let p = probs(&cand);
            let mut cum = 0.0;
            let mut keep = cand.len();
            for (i, pi) in p.iter().enumerate() {
                cum += pi;
                if cum >= c.top_p {
                    keep = i + 1;
                    break;
                }
            }
            cand.truncate(keep.max(1));
        }
        if c.min_p > 0.0 {
            let p = probs(&cand);
            let keep = p.iter().take_while(|&&pi| pi >= c.min_p * p[0]).count();
            cand.truncate(keep.max(1));
        }
        for x in cand.iter_mut() {
            x.1 /= c.temperature;
        }
        let p = probs(&cand);
        let r = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let mut cum = 0.0f64;
        for (i, pi) in p.iter().enumerate() {
            cum += *pi as f64;
            if r < cum {
                return cand[i].0;
            }
        }
        cand[cand.len() - 1].0
    }
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

pub fn argmax(v: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best as u32
}
