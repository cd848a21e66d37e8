//! Test support for the provider tests against moto: the emulator harness of the end-to-end
//! crate (its own `moto_server` on a free 127.0.0.1 port, stopped on drop) and `Sessions`
//! that reach it as moto's default account, which is both the management and the hub account.

#![allow(dead_code, clippy::expect_used)]

use std::time::Duration;

use aws_types::SdkConfig;
use eksmgr_providers::{Sessions, SessionsConfig};

pub use eksmgr_e2e::{MotoServer, REGION};

/// moto's default account.
pub const ACCOUNT: &str = "123456789012";

/// A moto server for one test; panics with the set-up hint when it cannot start.
pub struct Moto {
    server: MotoServer,
}

impl Moto {
    /// Starts moto on a free port and waits until it answers.
    pub fn start() -> Moto {
        Moto {
            server: MotoServer::start()
                .expect("moto_server starts (run `bash scripts/setup-emulator.sh`)"),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        self.server.endpoint()
    }

    /// The end of the server's log.
    pub fn log(&self) -> String {
        self.server.log_tail()
    }

    /// An SDK configuration for moto's default account: static test credentials, us-east-1.
    pub fn sdk_config(&self) -> SdkConfig {
        eksmgr_e2e::sdk_config(self.endpoint())
    }

    /// Sessions whose management and hub account are both moto's default account.
    pub fn sessions(&self) -> Sessions {
        sessions(self.sdk_config())
    }
}

/// Sessions from `base` whose management and hub account are moto's default account.
pub fn sessions(base: SdkConfig) -> Sessions {
    Sessions::new(base, sessions_config())
}

/// Sessions of moto's default account counting calls into `stats`.
pub fn counted_sessions(base: SdkConfig, stats: eksmgr_providers::stats::CallStats) -> Sessions {
    Sessions::with_stats(base, sessions_config(), stats)
}

fn sessions_config() -> SessionsConfig {
    SessionsConfig {
        management_account_id: ACCOUNT.into(),
        hub_account_id: ACCOUNT.into(),
        hub_access_role_name: "OrganizationAccountAccessRole".into(),
        partition: "aws".into(),
        home_region: REGION.into(),
        hub_agent_role_name: "EKSManagerAgentRole".into(),
        spoke_role_name: "EKSManagerAdmin".into(),
        session_name: "eksmgr-test".into(),
        session_duration: Duration::from_secs(3600),
        delegated_admin: false,
        caller_is_hub_agent: false,
    }
}
