//! From a logical model name to the deployment that serves it.
//!
//! A model group is every `model_list` entry sharing a `model_name`; requests
//! rotate over its deployments. Retries, fallbacks and cooldowns will live
//! here too.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::config::DeploymentConfig;
use crate::error::GatewayError;
use crate::pb::ServedBy;
use crate::providers::{self, Provider};

/// One configured deployment and the adapter that talks to it.
pub struct Deployment {
    pub config: DeploymentConfig,
    pub provider: Box<dyn Provider>,
}

impl Deployment {
    pub fn served_by(&self) -> ServedBy {
        ServedBy {
            model_group: self.config.model_name.clone(),
            deployment_id: self.config.id.clone(),
            provider: self.config.provider.name().to_owned(),
        }
    }
}

struct ModelGroup {
    deployments: Vec<Deployment>,
    next: AtomicUsize,
}

pub struct Router {
    groups: HashMap<String, ModelGroup>,
    /// Group names in config order, for stable listings.
    order: Vec<String>,
}

impl Router {
    pub fn new(deployments: &[DeploymentConfig], client: &providers::http::Client) -> Self {
        let mut groups: HashMap<String, ModelGroup> = HashMap::new();
        let mut order = Vec::new();
        for config in deployments {
            let deployment = Deployment {
                config: config.clone(),
                provider: providers::build(config, client),
            };
            groups
                .entry(config.model_name.clone())
                .or_insert_with(|| {
                    order.push(config.model_name.clone());
                    ModelGroup {
                        deployments: Vec::new(),
                        next: AtomicUsize::new(0),
                    }
                })
                .deployments
                .push(deployment);
        }
        Self { groups, order }
    }

    /// Picks the deployment for the next request to `model` (round robin).
    pub fn pick(&self, model: &str) -> Result<&Deployment, GatewayError> {
        if model.is_empty() {
            return Err(GatewayError::invalid("model", "is required"));
        }
        let group = self
            .groups
            .get(model)
            .ok_or_else(|| GatewayError::ModelNotFound(model.to_owned()))?;
        let turn = group.next.fetch_add(1, Ordering::Relaxed);
        Ok(&group.deployments[turn % group.deployments.len()])
    }

    /// Each model name with the provider of its first deployment and the
    /// number of deployments, in config order.
    pub fn models(&self) -> impl Iterator<Item = (&str, &'static str, usize)> {
        self.order.iter().map(|name| {
            let group = &self.groups[name];
            (
                name.as_str(),
                group.deployments[0].config.provider.name(),
                group.deployments.len(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    /// Deployments of one name take turns; unknown names are NOT_FOUND.
    #[test]
    fn round_robin_within_a_group() {
        let config = Config::from_yaml(
            "model_list:\n - {model_name: m, params: {model: mock/a}}\n - {model_name: m, params: {model: mock/b}}\n - {model_name: n, params: {model: mock/c}}",
            |_| None,
        )
        .expect("valid");
        let router = Router::new(
            &config.deployments,
            &crate::providers::http::Client::default(),
        );
        let picks: Vec<String> = (0..4)
            .map(|_| router.pick("m").unwrap().config.id.clone())
            .collect();
        assert_eq!(picks, ["m/0", "m/1", "m/0", "m/1"]);
        assert!(matches!(
            router.pick("gpt-5"),
            Err(GatewayError::ModelNotFound(_))
        ));
        let models: Vec<_> = router.models().collect();
        assert_eq!(models, [("m", "mock", 2), ("n", "mock", 1)]);
    }
}
