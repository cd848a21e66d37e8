//! Attribute schema: how an attribute is compared (plain value, set, policy document, map of
//! policy documents) and which changes force a replacement. Each kind's module
//! ([`crate::kinds`]) lists its attributes with these types.

use crate::model::ResourceKind;

/// How an attribute's values are compared and rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    /// Compared by JSON equality.
    Value,
    /// A list whose order does not matter.
    Set,
    /// An IAM-style policy document (string or object), compared by meaning.
    Policy,
    /// A JSON document (e.g. a CloudFormation template), compared after parsing.
    Document,
    /// A map from names to policy documents (inline policies).
    PolicyMap,
}

/// Whether a change to an attribute can be made in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// In place.
    InPlace,
    /// Only by replacing the resource.
    ForcesNew,
    /// Can be set once in place (from unset); changing or removing it forces replacement.
    SetOnce,
    /// Set when the resource is created and never compared afterwards: something else owns
    /// it from then on (a node group's desired size, which an autoscaler moves).
    AtCreate,
}

/// One attribute's schema.
#[derive(Debug, Clone, Copy)]
pub struct AttrSchema {
    /// Attribute name.
    pub name: &'static str,
    /// How it is compared.
    pub ty: AttrType,
    /// How a change is made.
    pub change: Change,
}

impl AttrSchema {
    /// Whether changing the attribute from `before` forces a replacement.
    pub fn forces_replacement(&self, before: Option<&crate::model::Value>) -> bool {
        match self.change {
            Change::InPlace => false,
            Change::ForcesNew => true,
            Change::SetOnce => before.is_some_and(|b| !b.is_null()),
            Change::AtCreate => false,
        }
    }

    /// Whether the attribute is compared once the resource exists.
    pub fn compared_after_create(&self) -> bool {
        match self.change {
            Change::InPlace | Change::ForcesNew | Change::SetOnce => true,
            Change::AtCreate => false,
        }
    }
}

/// An attribute changed in place.
pub(crate) const fn in_place(name: &'static str, ty: AttrType) -> AttrSchema {
    AttrSchema {
        name,
        ty,
        change: Change::InPlace,
    }
}

/// An attribute whose change replaces the resource.
pub(crate) const fn forces_new(name: &'static str, ty: AttrType) -> AttrSchema {
    AttrSchema {
        name,
        ty,
        change: Change::ForcesNew,
    }
}

/// A plain attribute that can be set once in place.
pub(crate) const fn set_once(name: &'static str) -> AttrSchema {
    AttrSchema {
        name,
        ty: AttrType::Value,
        change: Change::SetOnce,
    }
}

/// A plain attribute set when the resource is created and left alone afterwards.
pub(crate) const fn at_create(name: &'static str) -> AttrSchema {
    AttrSchema {
        name,
        ty: AttrType::Value,
        change: Change::AtCreate,
    }
}

/// The schema of a kind's managed attributes (each kind's module defines it).
pub fn attributes(kind: ResourceKind) -> &'static [AttrSchema] {
    crate::kinds::of(kind).attributes()
}

/// The schema of one attribute; unknown attributes compare as plain values, in place.
pub fn attribute(kind: ResourceKind, name: &str) -> AttrSchema {
    attributes(kind)
        .iter()
        .copied()
        .find(|s| s.name == name)
        .unwrap_or(AttrSchema {
            name: "",
            ty: AttrType::Value,
            change: Change::InPlace,
        })
}
