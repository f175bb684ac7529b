//! Lathe's gRPC contract: messages and services generated from `proto/lathe/**/v1/*.proto`.
//!
//! The `.proto` files are the single source of truth between services; this crate compiles
//! them at build time with a pure-Rust compiler, so a fresh machine needs no `protoc`.

pub mod json;

pub use json::Role;

/// Encoded `FileDescriptorSet` of every Lathe proto, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/lathe_descriptor.bin"));

pub mod registry {
    pub mod v1 {
        tonic::include_proto!("lathe.registry.v1");
    }
}

pub mod features {
    pub mod v1 {
        tonic::include_proto!("lathe.features.v1");
    }
}

pub mod orchestrator {
    pub mod v1 {
        tonic::include_proto!("lathe.orchestrator.v1");
    }
}

pub mod monitor {
    pub mod v1 {
        tonic::include_proto!("lathe.monitor.v1");
    }
}

pub mod serving {
    pub mod v1 {
        tonic::include_proto!("lathe.serving.v1");
    }
}

/// Fully qualified gRPC service names, as used by health checks and reflection.
pub mod service_names {
    pub const REGISTRY: &str = "lathe.registry.v1.RegistryService";
    pub const TRACKING: &str = "lathe.registry.v1.TrackingService";
    pub const MODEL_REGISTRY: &str = "lathe.registry.v1.ModelRegistryService";
    pub const LOGGED_MODELS: &str = "lathe.registry.v1.LoggedModelService";
    pub const FEATURES: &str = "lathe.features.v1.FeatureService";
    pub const ORCHESTRATOR: &str = "lathe.orchestrator.v1.OrchestratorService";
    pub const MONITOR: &str = "lathe.monitor.v1.MonitorService";
    pub const SERVING: &str = "lathe.serving.v1.ServingService";
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn descriptor_set_holds_every_service() {
        let fds = prost_types::FileDescriptorSet::decode(FILE_DESCRIPTOR_SET).expect("valid descriptor set");
        let services: Vec<String> = fds
            .file
            .iter()
            .flat_map(|file| {
                let package = file.package().to_owned();
                file.service
                    .iter()
                    .map(move |svc| format!("{package}.{}", svc.name()))
            })
            .collect();
        for name in [
            service_names::REGISTRY,
            service_names::TRACKING,
            service_names::MODEL_REGISTRY,
            service_names::LOGGED_MODELS,
            service_names::FEATURES,
            service_names::ORCHESTRATOR,
            service_names::MONITOR,
            service_names::SERVING,
        ] {
            assert!(
                services.iter().any(|s| s == name),
                "{name} missing from {services:?}"
            );
        }
    }
}
