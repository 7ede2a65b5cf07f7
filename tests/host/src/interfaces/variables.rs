//! `spin:variables@3.0.0`: the calling component's variables, resolved when the host started.

use wasmtime::component::Accessor;

use super::bindings::spin::variables::variables;
use super::{SpinHost, SpinView, shared};
use crate::manifest::validate_variable_name;

impl<T> variables::HostWithStore<T> for SpinHost {
    async fn get(
        accessor: &Accessor<T, Self>,
        name: String,
    ) -> wasmtime::Result<Result<String, variables::Error>> {
        let (grants, _) = shared(accessor);
        if let Err(reason) = validate_variable_name(&name) {
            return Ok(Err(variables::Error::InvalidName(reason)));
        }
        Ok(match grants.variables.get(&name) {
            Some(value) => Ok(value.clone()),
            None => Err(variables::Error::Undefined(format!(
                "no variable for {:?}.{name:?}",
                grants.component
            ))),
        })
    }
}

impl variables::Host for SpinView<'_> {}
