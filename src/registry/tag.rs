//! Tag and catalog listings, following `Link: <…>; rel="next"` pagination.

use reqwest::Method;
use serde::Deserialize;

use super::Registry;
use crate::error::{Error, Result};
use crate::transport::{read_limited, repo_scope, Request};

/// Most pages we follow before deciding the registry loops.
const MAX_PAGES: usize = 10_000;

impl Registry {
    /// All tags of a repository (empty when the repository does not exist).
    pub async fn list_tags(&self, repo: &str) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Tags {
            tags: Option<Vec<String>>,
        }
        let first = self.transport().url(&format!("v2/{repo}/tags/list"))?;
        let mut out = Vec::new();
        let pages = self
            .paginate(
                first,
                vec![repo_scope(repo, false)],
                &format!("tags of {repo}"),
                |body| {
                    let t: Tags = serde_json::from_slice(body)?;
                    Ok(t.tags.unwrap_or_default())
                },
            )
            .await;
        match pages {
            Ok(p) => out.extend(p),
            Err(Error::NotFound { .. }) => return Ok(vec![]),
            Err(e) => return Err(e),
        }
        Ok(out)
    }

    /// All repositories (`/v2/_catalog`), `page_size` per page.
    pub async fn catalog(&self, page_size: usize) -> Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Catalog {
            repositories: Option<Vec<String>>,
        }
        let mut first = self.transport().url("v2/_catalog")?;
        first
            .query_pairs_mut()
            .append_pair("n", &page_size.max(1).to_string());
        self.paginate(first, vec!["registry:catalog:*".into()], "catalog", |body| {
            let c: Catalog = serde_json::from_slice(body)?;
            Ok(c.repositories.unwrap_or_default())
        })
        .await
    }

    async fn paginate(
        &self,
        first: url::Url,
        scopes: Vec<String>,
        what: &str,
        parse: impl Fn(&[u8]) -> serde_json::Result<Vec<String>>,
    ) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut next = Some(first);
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(Error::Unsupported {
                    registry: self.name().to_string(),
                    what: what.to_string(),
                    reason: format!("more than {MAX_PAGES} pages; the registry's Link headers loop"),
                });
            }
            let resp = self
                .transport()
                .send(Request::new(Method::GET, url, scopes.clone()))
                .await?;
            if !resp.status().is_success() {
                return Err(self.error_for(resp, what).await);
            }
            next = resp
                .headers()
                .get(reqwest::header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(next_link)
                .map(|l| self.transport().resolve(&l))
                .transpose()?;
            let body = read_limited(resp, 64 << 20, self.name(), what).await?;
            let items = parse(&body).map_err(|e| Error::Http {
                registry: self.name().to_string(),
                method: "GET".into(),
                path: what.to_string(),
                status: 200,
                code: None,
                message: format!("unreadable listing: {e}"),
            })?;
            out.extend(items);
        }
        Ok(out)
    }
}

/// The `rel="next"` target of a `Link` header.
pub fn next_link(header: &str) -> Option<String> {
    for part in header.split(',') {
        let part = part.trim();
        let (target, params) = part.split_once(';').unwrap_or((part, ""));
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        if params
            .split(';')
            .any(|p| matches!(p.trim().replace(' ', "").as_str(), "rel=\"next\"" | "rel=next"))
        {
            return Some(target.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::next_link;

    #[test]
    fn link_headers() {
        assert_eq!(
            next_link(r#"</v2/_catalog?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/_catalog?last=b&n=2")
        );
        assert_eq!(
            next_link(r#"<https://x/a>; rel="prev", <https://x/b>; rel="next""#).as_deref(),
            Some("https://x/b")
        );
        assert_eq!(next_link(r#"<https://x/a>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
        assert_eq!(next_link(""), None);
    }
}
