//! Open311 documents and their two renderings, JSON and XML.
//!
//! A handler builds one [`Document`] — a tree of records, lists and values
//! in the order the GeoReport v2 specification lists its fields — and
//! [`render`] writes it in the format the path asked for. XML goes through
//! `quick-xml`'s writer, which escapes every text; nothing is concatenated
//! by hand. Lists are JSON arrays, and in XML an element per item inside
//! the list's element (`<services><service>…</service></services>`), as
//! the specification's examples show.

use quick_xml::{
    Writer,
    events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event},
};
use serde_json::{Map, Value};

/// The representation a path asks for with its suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `.json`: `application/json`.
    Json,
    /// `.xml`: `text/xml`, the format the specification requires.
    Xml,
}

impl Format {
    /// Splits `services.json` into `("services", Json)`; `None` without a
    /// known suffix.
    pub fn split(file: &str) -> Option<(&str, Format)> {
        if let Some(stem) = file.strip_suffix(".json") {
            Some((stem, Format::Json))
        } else {
            file.strip_suffix(".xml").map(|stem| (stem, Format::Xml))
        }
    }

    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json; charset=utf-8",
            Format::Xml => "text/xml; charset=utf-8",
        }
    }
}

/// One value of a document.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A string.
    Text(String),
    /// `true` or `false`.
    Bool(bool),
    /// A whole number (error codes, orders).
    Integer(i64),
    /// A coordinate.
    Number(f64),
    /// Named fields, in order.
    Record(Vec<(&'static str, Node)>),
    /// A list whose items are elements named `item` in XML.
    List {
        /// The XML element name of each item.
        item: &'static str,
        /// The items.
        items: Vec<Node>,
    },
}

impl Node {
    /// A text node.
    pub fn text(text: impl Into<String>) -> Node {
        Node::Text(text.into())
    }
}

/// A whole response: the XML root element name and the tree under it.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The root element in XML (`services`, `service_requests`, …); JSON has
    /// no root name.
    pub root: &'static str,
    /// The tree: a list becomes the root's items, a record its fields.
    pub body: Node,
}

impl Document {
    /// A list document: `<root><item>…</item>…</root>` or a JSON array.
    pub fn list(root: &'static str, item: &'static str, items: Vec<Node>) -> Document {
        Document {
            root,
            body: Node::List { item, items },
        }
    }
}

/// The bytes of `document` in `format`.
pub fn render(document: &Document, format: Format) -> Vec<u8> {
    match format {
        Format::Json => {
            serde_json::to_vec(&json(&document.body)).unwrap_or_else(|_| b"[]".to_vec())
        }
        Format::Xml => xml(document),
    }
}

fn json(node: &Node) -> Value {
    match node {
        Node::Text(text) => Value::String(text.clone()),
        Node::Bool(value) => Value::Bool(*value),
        Node::Integer(value) => Value::from(*value),
        Node::Number(value) => Value::from(*value),
        Node::Record(fields) => Value::Object(
            fields
                .iter()
                .map(|(name, value)| ((*name).to_owned(), json(value)))
                .collect::<Map<_, _>>(),
        ),
        Node::List { items, .. } => Value::Array(items.iter().map(json).collect()),
    }
}

fn xml(document: &Document) -> Vec<u8> {
    let mut writer = Writer::new(Vec::new());
    // Writing into a Vec cannot fail; an error here would be a bug in the
    // writer, and the document written so far is still returned.
    let _ = writer
        .write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)))
        .and_then(|()| write_xml(&mut writer, document.root, &document.body));
    writer.into_inner()
}

fn write_xml(writer: &mut Writer<Vec<u8>>, name: &str, node: &Node) -> std::io::Result<()> {
    let scalar = match node {
        Node::Text(text) => Some(text.clone()),
        Node::Bool(value) => Some(value.to_string()),
        Node::Integer(value) => Some(value.to_string()),
        Node::Number(value) => Some(value.to_string()),
        Node::Record(_) | Node::List { .. } => None,
    };
    writer.write_event(Event::Start(BytesStart::new(name)))?;
    match (scalar, node) {
        (Some(text), _) => writer.write_event(Event::Text(BytesText::new(&text)))?,
        (None, Node::Record(fields)) => {
            for (field, value) in fields {
                write_xml(writer, field, value)?;
            }
        }
        (None, Node::List { item, items }) => {
            for value in items {
                write_xml(writer, item, value)?;
            }
        }
        (None, _) => {}
    }
    writer.write_event(Event::End(BytesEnd::new(name)))
}

/// The Open311 error document: `[{code, description}]` with the HTTP
/// status as the code.
pub fn errors(http_status: u16, description: &str) -> Document {
    Document::list(
        "errors",
        "error",
        vec![Node::Record(vec![
            ("code", Node::Integer(i64::from(http_status))),
            ("description", Node::text(description)),
        ])],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_text_and_nests_lists() {
        let document = Document::list(
            "services",
            "service",
            vec![Node::Record(vec![
                ("service_name", Node::text("a<b & \"c\"")),
                ("metadata", Node::Bool(true)),
            ])],
        );
        let text = String::from_utf8(render(&document, Format::Xml)).unwrap();
        assert_eq!(
            text,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><services><service>\
             <service_name>a&lt;b &amp; &quot;c&quot;</service_name>\
             <metadata>true</metadata></service></services>"
        );
        let json: Value = serde_json::from_slice(&render(&document, Format::Json)).unwrap();
        assert_eq!(json[0]["service_name"], "a<b & \"c\"");
        assert_eq!(json[0]["metadata"], true);
    }

    #[test]
    fn suffixes_choose_the_format() {
        assert_eq!(
            Format::split("services.json"),
            Some(("services", Format::Json))
        );
        assert_eq!(Format::split("a.b.xml"), Some(("a.b", Format::Xml)));
        assert_eq!(Format::split("services.html"), None);
    }
}
