//! The method catalog and the company registry: what grants and restrictions may name.

use crate::db::{self, Db};
use keys_domain::Error;
use keys_domain::permissions::{CompanyScope, MethodGrant, MethodName, unknown_grants};
use spin_sdk::sqlite::Value;

const SQL_METHOD_NAMES: &str = "SELECT name FROM api_methods ORDER BY name";
const SQL_COMPANY_EXISTS: &str = "SELECT 1 FROM companies WHERE id = ?";
const SQL_METHOD_EXISTS: &str = "SELECT 1 FROM api_methods WHERE name = ?";

/// Whether the company registry holds this id.
pub async fn company_exists(db: &Db, id: &str) -> Result<bool, Error> {
    Ok(!db
        .rows(SQL_COMPANY_EXISTS, vec![Value::Text(id.to_owned())])
        .await?
        .is_empty())
}

/// Whether the method catalog holds this name.
pub async fn method_exists(db: &Db, name: &str) -> Result<bool, Error> {
    Ok(!db
        .rows(SQL_METHOD_EXISTS, vec![Value::Text(name.to_owned())])
        .await?
        .is_empty())
}

/// Every method name of the catalog.
pub async fn method_names(db: &Db) -> Result<Vec<MethodName>, Error> {
    let rows = db.rows(SQL_METHOD_NAMES, vec![]).await?;
    rows.iter()
        .map(|r| {
            MethodName::parse(&db::text(r, 0)?).ok_or_else(|| {
                Error::unexpected("catalog holds a malformed method name".to_string())
            })
        })
        .collect()
}

/// Fails with 422 naming every grant the catalog does not know.
pub async fn check_grants(db: &Db, grants: &[MethodGrant]) -> Result<(), Error> {
    if grants.is_empty() {
        return Ok(());
    }
    let catalog = method_names(db).await?;
    let unknown = unknown_grants(grants, &catalog);
    if unknown.is_empty() {
        return Ok(());
    }
    Err(Error::Invalid {
        code: "unknown_method",
        detail: format!(
            "not in the method catalog: {}",
            unknown
                .iter()
                .map(|g| format!("`{g}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

/// Fails with 422 naming every company of the scope that is not registered.
pub async fn check_companies(db: &Db, scope: &CompanyScope) -> Result<(), Error> {
    let CompanyScope::Only(list) = scope else {
        return Ok(());
    };
    let mut unknown = Vec::new();
    for company in list {
        if !company_exists(db, company.as_str()).await? {
            unknown.push(format!("`{}`", company.as_str()));
        }
    }
    if unknown.is_empty() {
        return Ok(());
    }
    Err(Error::Invalid {
        code: "unknown_company",
        detail: format!("not registered companies: {}", unknown.join(", ")),
    })
}
