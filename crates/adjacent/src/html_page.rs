//! The report page as one self-contained HTML file: the page's data, its script and style, and
//! the vendored chart library (Apache ECharts, `assets/echarts/`) inlined, so that it opens without
//! a network, from a file or from the dashboard.

use adjacent_search::page::{Page, json_for_html};

const TEMPLATE: &str = include_str!("../assets/report.html");
const CSS: &str = include_str!("../assets/report.css");
const SCRIPT: &str = include_str!("../assets/report.js");
const ECHARTS: &str = include_str!("../assets/echarts/echarts.min.js");

/// Where the page's data comes from.
pub enum Data<'a> {
    /// Inlined (the HTML report).
    Inline(&'a Page),
    /// Fetched from this URL path and polled (the dashboard's live page).
    Live { title: &'a str, source: &'a str },
}

/// The page.
pub fn render(data: Data) -> String {
    let (title, json, source) = match data {
        Data::Inline(page) => (page.title.as_str(), json_for_html(page), ""),
        Data::Live { title, source } => (title, "null".to_string(), source),
    };
    let title = escape(title);
    let source = escape(source);
    fill(TEMPLATE, &|name| match name {
        "TITLE" => Some(title.as_str()),
        "CSS" => Some(CSS),
        "SOURCE" => Some(source.as_str()),
        "VERSION" => Some(env!("CARGO_PKG_VERSION")),
        "DATA" => Some(json.as_str()),
        "ECHARTS" => Some(ECHARTS),
        "SCRIPT" => Some(SCRIPT),
        _ => None,
    })
}

/// The template with each `{{NAME}}` replaced, in one pass (what is put in is never read as a
/// placeholder).
fn fill<'v>(template: &str, value: &dyn Fn(&str) -> Option<&'v str>) -> String {
    let mut out = String::with_capacity(template.len() + ECHARTS.len() + 4096);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after
            .find("}}")
            .and_then(|end| value(&after[..end]).map(|v| (end, v)))
        {
            Some((end, v)) => {
                out.push_str(v);
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_once_and_inserted_text_is_not_read_again() {
        let filled = fill("<a>{{X}}</a>{{Y}}{{unknown}}", &|n| match n {
            "X" => Some("{{Y}}"),
            "Y" => Some("y"),
            _ => None,
        });
        assert_eq!(filled, "<a>{{Y}}</a>y{{unknown}}");
    }

    #[test]
    fn a_page_inlines_its_data_script_and_chart_library() {
        let page = Page {
            title: "a </script><b> title".into(),
            searches: vec![],
        };
        let html = render(Data::Inline(&page));
        assert!(html.contains("a &lt;/script&gt;&lt;b&gt; title"));
        // The data cannot close its script element.
        assert_eq!(html.matches("</script>").count(), 3, "{}", &html[..200]);
        assert!(html.contains("echarts") && html.contains("adjacent-data"));
        assert!(!html.contains("{{"), "a placeholder left");
        let live = render(Data::Live {
            title: "t",
            source: "/api/study/1",
        });
        assert!(live.contains(r#"data-source="/api/study/1""#));
    }
}
