//! A partial Merkle-Patricia trie: the part of a trie that a block witness reveals.
//!
//! Ethereum's state and storage tries are hexary Merkle-Patricia tries over 32-byte keys
//! (keccak of the address or slot). A [`PartialTrie`] starts as nothing but its root hash;
//! every node it needs is fetched on demand from a [`NodeSource`] by hash, checked against that
//! hash (by the trie, or by a source such as [`HashedNodes`] that indexed it by its hash) and
//! decoded, so whatever a lookup returns is bound to the root it started from. A
//! subtree that is never fetched stays a hash stub and still counts in the root.
//!
//! Reads, inserts and deletes that reach a stub the source cannot supply fail with
//! [`TrieError::MissingNode`]: a witness that omits something the block touched cannot
//! produce a result. Deleting a key may merge the one remaining sibling of a branch into its
//! parent; that sibling is fetched too, which is why witnesses carry a few nodes beyond the
//! plain proofs of the keys a block touched.
//!
//! This trie is optimised for the guest: small, allocation-light, no hash caching (a root is
//! recomputed once, at the end of a block). Native code computes roots of whole states with
//! `alloy-trie`'s `HashBuilder` instead (see [`crate::state`]); tests check the two agree.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;

use alloy_primitives::{B256, Bytes, keccak256};
use alloy_rlp::{EMPTY_STRING_CODE, Header};
use alloy_trie::EMPTY_ROOT_HASH;

/// Where a [`PartialTrie`] gets the nodes it has not seen yet: the RLP encoding of the node
/// whose keccak is `hash`, or `None` when the source does not have it.
pub trait NodeSource {
    /// The RLP encoding of the node with this hash, if the source holds it.
    fn node(&mut self, hash: &B256) -> Option<Bytes>;

    /// Whether every node this source returns is known to hash to the hash it was asked for
    /// (as with [`HashedNodes`], which hashed each node to index it). When false, the
    /// default, the trie hashes each node it fetches and refuses one that does not match.
    fn nodes_match_hashes(&self) -> bool {
        false
    }
}

/// Nodes indexed by their keccak, computed here: a source whose nodes the trie need not hash
/// again (each node of a witness is hashed once, not twice).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HashedNodes {
    nodes: BTreeMap<B256, Bytes>,
}

impl HashedNodes {
    /// Hashes and indexes `nodes` (duplicates collapse).
    pub fn new(nodes: impl IntoIterator<Item = Bytes>) -> Self {
        Self {
            nodes: nodes.into_iter().map(|n| (keccak256(&n), n)).collect(),
        }
    }

    /// How many distinct nodes it holds.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether it holds no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

impl NodeSource for HashedNodes {
    fn node(&mut self, hash: &B256) -> Option<Bytes> {
        self.nodes.get(hash).cloned()
    }

    fn nodes_match_hashes(&self) -> bool {
        true
    }
}

/// A map from node hash to node encoding is the simplest source (a witness's node set).
impl NodeSource for BTreeMap<B256, Bytes> {
    fn node(&mut self, hash: &B256) -> Option<Bytes> {
        self.get(hash).cloned()
    }
}

/// Why a trie operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrieError {
    /// The trie needed the node with this hash and the source did not supply it.
    MissingNode(B256),
    /// A node's bytes are not a valid trie node encoding.
    MalformedNode(&'static str),
    /// A key was not 32 bytes long, or a path did not fit the trie's shape.
    BadKey,
}

impl fmt::Display for TrieError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingNode(h) => write!(f, "trie node {h} is missing from the witness"),
            Self::MalformedNode(why) => write!(f, "malformed trie node: {why}"),
            Self::BadKey => f.write_str("trie key is not 32 bytes"),
        }
    }
}

impl core::error::Error for TrieError {}

/// A Merkle-Patricia trie over 32-byte keys, resolved lazily from a [`NodeSource`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialTrie {
    root: Node,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Empty,
    Leaf {
        path: Vec<u8>,
        value: Vec<u8>,
        hash: Memo,
    },
    Extension {
        path: Vec<u8>,
        child: Box<Node>,
        hash: Memo,
    },
    Branch {
        children: Box<[Node; 16]>,
        hash: Memo,
    },
    /// A subtree not fetched yet, known only by its hash.
    Hash(B256),
}

/// A node's remembered hash: keccak of its encoding, kept once computed (or known from the
/// node source it was fetched from) for nodes whose encoding is at least 32 bytes, and
/// forgotten whenever anything at or below the node changes. A root after a few changes
/// then hashes only the changed paths. Not part of a node's identity: two nodes that differ
/// only in what they remember are equal.
#[derive(Debug, Clone, Copy, Default)]
struct Memo(Option<B256>);

impl PartialEq for Memo {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Memo {}

impl Node {
    fn leaf(path: Vec<u8>, value: Vec<u8>) -> Self {
        Self::Leaf {
            path,
            value,
            hash: Memo::default(),
        }
    }

    fn extension(path: Vec<u8>, child: Node) -> Self {
        Self::Extension {
            path,
            child: Box::new(child),
            hash: Memo::default(),
        }
    }

    fn branch(children: Box<[Node; 16]>) -> Self {
        Self::Branch {
            children,
            hash: Memo::default(),
        }
    }

    fn memo(&self) -> Option<B256> {
        match self {
            Self::Leaf { hash, .. } | Self::Extension { hash, .. } | Self::Branch { hash, .. } => {
                hash.0
            }
            Self::Empty | Self::Hash(_) => None,
        }
    }

    fn memo_mut(&mut self) -> Option<&mut Memo> {
        match self {
            Self::Leaf { hash, .. } | Self::Extension { hash, .. } | Self::Branch { hash, .. } => {
                Some(hash)
            }
            Self::Empty | Self::Hash(_) => None,
        }
    }

    /// Forgets the remembered hash: the node is about to change.
    fn forget_hash(&mut self) {
        if let Some(memo) = self.memo_mut() {
            *memo = Memo::default();
        }
    }
}

impl Default for PartialTrie {
    fn default() -> Self {
        Self::new()
    }
}

impl PartialTrie {
    /// An empty trie (root [`EMPTY_ROOT_HASH`]).
    pub fn new() -> Self {
        Self { root: Node::Empty }
    }

    /// A trie known only by its root hash; nodes are fetched from a source as needed.
    pub fn from_root(root: B256) -> Self {
        if root == EMPTY_ROOT_HASH {
            Self::new()
        } else {
            Self {
                root: Node::Hash(root),
            }
        }
    }

    /// The value stored under `key` (32 bytes), or `None` if the trie proves it absent.
    pub fn get(
        &mut self,
        key: &[u8],
        src: &mut dyn NodeSource,
    ) -> Result<Option<Vec<u8>>, TrieError> {
        let path = nibbles(key)?;
        let mut node = &mut self.root;
        let mut rest: &[u8] = &path;
        loop {
            resolve(node, src)?;
            match node {
                Node::Empty => return Ok(None),
                Node::Leaf { path, value, .. } => {
                    return Ok((path.as_slice() == rest).then(|| value.clone()));
                }
                Node::Extension { path, child, .. } => {
                    if !rest.starts_with(path) {
                        return Ok(None);
                    }
                    rest = &rest[path.len()..];
                    node = child;
                }
                Node::Branch { children, .. } => {
                    let Some((&first, tail)) = rest.split_first() else {
                        return Err(TrieError::BadKey);
                    };
                    rest = tail;
                    node = &mut children[usize::from(first)];
                }
                Node::Hash(_) => unreachable!("resolve replaced the stub"),
            }
        }
    }

    /// Sets `key` (32 bytes) to `value` (non-empty), fetching the nodes on its path.
    pub fn insert(
        &mut self,
        key: &[u8],
        value: Vec<u8>,
        src: &mut dyn NodeSource,
    ) -> Result<(), TrieError> {
        let path = nibbles(key)?;
        insert(&mut self.root, &path, value, src)
    }

    /// Removes `key` (32 bytes) if present, fetching the nodes on its path and, where a branch
    /// collapses, its remaining child.
    pub fn remove(&mut self, key: &[u8], src: &mut dyn NodeSource) -> Result<(), TrieError> {
        let path = nibbles(key)?;
        remove(&mut self.root, &path, src)
    }

    /// The root hash: keccak of the root node's encoding ([`EMPTY_ROOT_HASH`] when empty).
    /// Hashes only the nodes changed since their hash was last computed or fetched, and
    /// remembers the new hashes.
    pub fn root(&mut self) -> B256 {
        hash_changed(&mut self.root);
        match &self.root {
            Node::Empty => EMPTY_ROOT_HASH,
            Node::Hash(h) => *h,
            node => node.memo().unwrap_or_else(|| keccak256(encode(node))),
        }
    }
}

/// Every node of a complete trie holding `entries`, keyed by hash (the nodes whose encoding is
/// at least 32 bytes, plus the root): the node store native code hands to witness building.
pub fn collect_nodes(
    entries: impl IntoIterator<Item = (B256, Vec<u8>)>,
    out: &mut BTreeMap<B256, Bytes>,
) -> B256 {
    let mut trie = PartialTrie::new();
    let mut none = BTreeMap::new();
    for (key, value) in entries {
        // A fresh trie built only by inserts has no stubs, so this cannot fail.
        let _ = trie.insert(key.as_slice(), value, &mut none);
    }
    if let Node::Empty = trie.root {
        return EMPTY_ROOT_HASH;
    }
    let enc = encode(&trie.root);
    collect(&trie.root, out);
    let root = keccak256(&enc);
    out.insert(root, enc.into());
    root
}

fn collect(node: &Node, out: &mut BTreeMap<B256, Bytes>) {
    match node {
        Node::Extension { child, .. } => {
            record(child, out);
            collect(child, out);
        }
        Node::Branch { children, .. } => {
            for child in children.iter() {
                record(child, out);
                collect(child, out);
            }
        }
        _ => {}
    }
}

fn record(node: &Node, out: &mut BTreeMap<B256, Bytes>) {
    if matches!(node, Node::Empty | Node::Hash(_)) {
        return;
    }
    let enc = encode(node);
    if enc.len() >= 32 {
        out.insert(keccak256(&enc), enc.into());
    }
}

fn nibbles(key: &[u8]) -> Result<Vec<u8>, TrieError> {
    if key.len() != 32 {
        return Err(TrieError::BadKey);
    }
    Ok(key.iter().flat_map(|b| [b >> 4, b & 0x0f]).collect())
}

fn resolve(node: &mut Node, src: &mut dyn NodeSource) -> Result<(), TrieError> {
    if let Node::Hash(hash) = node {
        let hash = *hash;
        let bytes = src.node(&hash).ok_or(TrieError::MissingNode(hash))?;
        if !src.nodes_match_hashes() && keccak256(&bytes) != hash {
            return Err(TrieError::MissingNode(hash));
        }
        *node = decode(&bytes)?;
        match node.memo_mut() {
            // The parent committed to these bytes: that is the node's hash until it changes.
            Some(memo) => *memo = Memo(Some(hash)),
            None => return Err(TrieError::MalformedNode("a hashed node is empty")),
        }
    }
    Ok(())
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn empty_children() -> Box<[Node; 16]> {
    Box::new(core::array::from_fn(|_| Node::Empty))
}

/// `node` with `prefix` prepended to its path (a branch gets an extension above it).
fn with_prefix(prefix: Vec<u8>, node: Node) -> Node {
    if prefix.is_empty() {
        return node;
    }
    match node {
        Node::Leaf { path, value, .. } => Node::leaf([prefix, path].concat(), value),
        Node::Extension { path, child, .. } => Node::Extension {
            path: [prefix, path].concat(),
            child,
            hash: Memo::default(),
        },
        other => Node::extension(prefix, other),
    }
}

fn insert(
    node: &mut Node,
    rest: &[u8],
    value: Vec<u8>,
    src: &mut dyn NodeSource,
) -> Result<(), TrieError> {
    resolve(node, src)?;
    node.forget_hash();
    match node {
        Node::Empty => {
            *node = Node::leaf(rest.to_vec(), value);
            Ok(())
        }
        Node::Leaf {
            path, value: old, ..
        } => {
            if path.as_slice() == rest {
                *old = value;
                return Ok(());
            }
            let c = common_prefix(path, rest);
            if c >= path.len() || c >= rest.len() {
                return Err(TrieError::BadKey);
            }
            let mut children = empty_children();
            children[usize::from(path[c])] =
                Node::leaf(path[c + 1..].to_vec(), core::mem::take(old));
            children[usize::from(rest[c])] = Node::leaf(rest[c + 1..].to_vec(), value);
            *node = with_prefix(rest[..c].to_vec(), Node::branch(children));
            Ok(())
        }
        Node::Extension { path, child, .. } => {
            let c = common_prefix(path, rest);
            if c == path.len() {
                return insert(child, &rest[c..], value, src);
            }
            if c >= rest.len() {
                return Err(TrieError::BadKey);
            }
            let mut children = empty_children();
            let old_child = core::mem::replace(child.as_mut(), Node::Empty);
            children[usize::from(path[c])] = with_prefix(path[c + 1..].to_vec(), old_child);
            children[usize::from(rest[c])] = Node::leaf(rest[c + 1..].to_vec(), value);
            *node = with_prefix(rest[..c].to_vec(), Node::branch(children));
            Ok(())
        }
        Node::Branch { children, .. } => {
            let (&first, tail) = rest.split_first().ok_or(TrieError::BadKey)?;
            insert(&mut children[usize::from(first)], tail, value, src)
        }
        Node::Hash(_) => unreachable!("resolve replaced the stub"),
    }
}

fn remove(node: &mut Node, rest: &[u8], src: &mut dyn NodeSource) -> Result<(), TrieError> {
    resolve(node, src)?;
    node.forget_hash();
    match node {
        Node::Empty => Ok(()),
        Node::Leaf { path, .. } => {
            if path.as_slice() == rest {
                *node = Node::Empty;
            }
            Ok(())
        }
        Node::Extension { path, child, .. } => {
            if !rest.starts_with(path) {
                return Ok(());
            }
            remove(child, &rest[path.len()..], src)?;
            let child = core::mem::replace(child.as_mut(), Node::Empty);
            *node = match child {
                Node::Empty => Node::Empty,
                child => with_prefix(core::mem::take(path), child),
            };
            Ok(())
        }
        Node::Branch { children, .. } => {
            let (&first, tail) = rest.split_first().ok_or(TrieError::BadKey)?;
            remove(&mut children[usize::from(first)], tail, src)?;
            let mut live = children
                .iter()
                .enumerate()
                .filter(|(_, c)| !matches!(c, Node::Empty));
            let only = match (live.next(), live.next()) {
                (None, _) => None,
                (Some((i, _)), None) => Some(i),
                _ => return Ok(()),
            };
            let Some(index) = only else {
                *node = Node::Empty;
                return Ok(());
            };
            let mut last = core::mem::replace(&mut children[index], Node::Empty);
            // The survivor merges into this position: its kind decides the shape.
            resolve(&mut last, src)?;
            let nibble = u8::try_from(index).map_err(|_| TrieError::BadKey)?;
            *node = with_prefix(alloc::vec![nibble], last);
            Ok(())
        }
        Node::Hash(_) => unreachable!("resolve replaced the stub"),
    }
}

/// Hex-prefix (compact) encoding of a nibble path.
fn compact(path: &[u8], leaf: bool) -> Vec<u8> {
    let odd = path.len() % 2 == 1;
    let flag = (u8::from(leaf) << 1) | u8::from(odd);
    let mut out = Vec::with_capacity(path.len() / 2 + 1);
    let rest = if odd {
        out.push((flag << 4) | path[0]);
        &path[1..]
    } else {
        out.push(flag << 4);
        path
    };
    out.extend(rest.chunks(2).map(|p| (p[0] << 4) | p[1]));
    out
}

fn uncompact(bytes: &[u8]) -> Result<(Vec<u8>, bool), TrieError> {
    let (&first, tail) = bytes
        .split_first()
        .ok_or(TrieError::MalformedNode("empty path"))?;
    let flag = first >> 4;
    if flag > 3 {
        return Err(TrieError::MalformedNode("bad path flag"));
    }
    let mut path = Vec::with_capacity(tail.len() * 2 + 1);
    if flag & 1 == 1 {
        path.push(first & 0x0f);
    } else if first & 0x0f != 0 {
        return Err(TrieError::MalformedNode("bad path padding"));
    }
    path.extend(tail.iter().flat_map(|b| [b >> 4, b & 0x0f]));
    Ok((path, flag & 2 == 2))
}

fn encode_list(items: &[Vec<u8>]) -> Vec<u8> {
    let payload_length = items.iter().map(Vec::len).sum();
    let mut out = Vec::with_capacity(payload_length + 3);
    Header {
        list: true,
        payload_length,
    }
    .encode(&mut out);
    for item in items {
        out.extend_from_slice(item);
    }
    out
}

fn encode_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 3);
    alloy_rlp::Encodable::encode(bytes, &mut out);
    out
}

/// How a parent refers to `node`: inline when its encoding is under 32 bytes, else by hash.
fn reference(node: &Node) -> Vec<u8> {
    match node {
        Node::Empty => alloc::vec![EMPTY_STRING_CODE],
        Node::Hash(h) => encode_bytes(h.as_slice()),
        node => {
            if let Some(h) = node.memo() {
                return encode_bytes(h.as_slice());
            }
            let enc = encode(node);
            if enc.len() < 32 {
                enc
            } else {
                encode_bytes(keccak256(&enc).as_slice())
            }
        }
    }
}

/// Computes and remembers the hash of every node under `node` (and of `node`) whose hash is
/// not remembered, children first, so each parent's encoding finds its children's hashes.
/// Nodes encoded in under 32 bytes are inlined by their parents and are not hashed.
fn hash_changed(node: &mut Node) {
    if node.memo().is_some() {
        return;
    }
    match node {
        Node::Extension { child, .. } => hash_changed(child),
        Node::Branch { children, .. } => children.iter_mut().for_each(hash_changed),
        Node::Empty | Node::Leaf { .. } | Node::Hash(_) => {}
    }
    let enc = encode(node);
    if enc.len() >= 32
        && let Some(memo) = node.memo_mut()
    {
        *memo = Memo(Some(keccak256(&enc)));
    }
}

fn encode(node: &Node) -> Vec<u8> {
    match node {
        Node::Empty => alloc::vec![EMPTY_STRING_CODE],
        Node::Leaf { path, value, .. } => {
            encode_list(&[encode_bytes(&compact(path, true)), encode_bytes(value)])
        }
        Node::Extension { path, child, .. } => {
            encode_list(&[encode_bytes(&compact(path, false)), reference(child)])
        }
        Node::Branch { children, .. } => {
            let mut items: Vec<Vec<u8>> = children.iter().map(reference).collect();
            items.push(alloc::vec![EMPTY_STRING_CODE]);
            encode_list(&items)
        }
        Node::Hash(h) => encode_bytes(h.as_slice()),
    }
}

/// Splits an RLP list payload into its items' full encodings.
fn items(mut payload: &[u8]) -> Result<Vec<&[u8]>, TrieError> {
    let mut out = Vec::new();
    while !payload.is_empty() {
        let mut probe = payload;
        let header =
            Header::decode(&mut probe).map_err(|_| TrieError::MalformedNode("bad RLP item"))?;
        let head_len = payload.len() - probe.len();
        let total = head_len
            .checked_add(header.payload_length)
            .filter(|&t| t <= payload.len())
            .ok_or(TrieError::MalformedNode("RLP item overruns its list"))?;
        out.push(&payload[..total]);
        payload = &payload[total..];
    }
    Ok(out)
}

fn string_payload(item: &[u8]) -> Result<&[u8], TrieError> {
    let mut buf = item;
    let header =
        Header::decode(&mut buf).map_err(|_| TrieError::MalformedNode("bad RLP string"))?;
    if header.list {
        return Err(TrieError::MalformedNode("expected a string, found a list"));
    }
    Ok(buf)
}

fn decode_reference(item: &[u8]) -> Result<Node, TrieError> {
    let mut buf = item;
    let header =
        Header::decode(&mut buf).map_err(|_| TrieError::MalformedNode("bad child reference"))?;
    if header.list {
        if item.len() >= 32 {
            return Err(TrieError::MalformedNode("inline node of 32 bytes or more"));
        }
        return decode(item);
    }
    match buf.len() {
        0 => Ok(Node::Empty),
        32 => Ok(Node::Hash(B256::from_slice(buf))),
        _ => Err(TrieError::MalformedNode(
            "child reference is neither empty, inline nor a hash",
        )),
    }
}

fn decode(bytes: &[u8]) -> Result<Node, TrieError> {
    let mut buf = bytes;
    let header =
        Header::decode(&mut buf).map_err(|_| TrieError::MalformedNode("bad RLP header"))?;
    if !header.list || header.payload_length != buf.len() {
        return Err(TrieError::MalformedNode(
            "a node is an RLP list filling its bytes",
        ));
    }
    let items = items(buf)?;
    match items.len() {
        2 => {
            let (path, leaf) = uncompact(string_payload(items[0])?)?;
            if leaf {
                let value = string_payload(items[1])?;
                if value.is_empty() {
                    return Err(TrieError::MalformedNode("leaf with an empty value"));
                }
                Ok(Node::leaf(path, value.to_vec()))
            } else {
                if path.is_empty() {
                    return Err(TrieError::MalformedNode("extension with an empty path"));
                }
                let child = decode_reference(items[1])?;
                if matches!(
                    child,
                    Node::Empty | Node::Leaf { .. } | Node::Extension { .. }
                ) {
                    return Err(TrieError::MalformedNode("extension must lead to a branch"));
                }
                Ok(Node::extension(path, child))
            }
        }
        17 => {
            if !string_payload(items[16])?.is_empty() {
                return Err(TrieError::MalformedNode(
                    "branch with a value in a fixed-key trie",
                ));
            }
            let mut children = empty_children();
            for (slot, item) in children.iter_mut().zip(&items[..16]) {
                *slot = decode_reference(item)?;
            }
            if children
                .iter()
                .filter(|c| !matches!(c, Node::Empty))
                .count()
                < 2
            {
                return Err(TrieError::MalformedNode(
                    "branch with fewer than two children",
                ));
            }
            Ok(Node::branch(children))
        }
        _ => Err(TrieError::MalformedNode("a node has 2 or 17 items")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::U256;

    fn key(i: u64) -> B256 {
        keccak256(U256::from(i).to_be_bytes::<32>())
    }

    fn reference_root(entries: &BTreeMap<B256, Vec<u8>>) -> B256 {
        let mut hb = alloy_trie::HashBuilder::default();
        for (k, v) in entries {
            hb.add_leaf(alloy_trie::Nibbles::unpack(k), v);
        }
        hb.root()
    }

    #[test]
    fn empty_trie_has_the_empty_root() {
        assert_eq!(PartialTrie::new().root(), EMPTY_ROOT_HASH);
        assert_eq!(
            EMPTY_ROOT_HASH,
            "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"
                .parse::<B256>()
                .unwrap()
        );
    }

    #[test]
    fn inserts_and_removes_match_alloy_trie() {
        let mut trie = PartialTrie::new();
        let mut entries = BTreeMap::new();
        let mut none = BTreeMap::new();
        for i in 0..300u64 {
            let value = alloc::vec![1u8; (i % 40 + 1) as usize];
            trie.insert(key(i).as_slice(), value.clone(), &mut none)
                .unwrap();
            entries.insert(key(i), value);
            if i % 37 == 0 {
                assert_eq!(trie.root(), reference_root(&entries));
            }
        }
        assert_eq!(trie.root(), reference_root(&entries));
        for i in (0..300u64).filter(|i| i % 3 != 0) {
            trie.remove(key(i).as_slice(), &mut none).unwrap();
            entries.remove(&key(i));
        }
        assert_eq!(trie.root(), reference_root(&entries));
        for i in 0..300u64 {
            trie.remove(key(i).as_slice(), &mut none).unwrap();
        }
        assert_eq!(trie.root(), EMPTY_ROOT_HASH);
    }

    #[test]
    fn lazily_resolved_trie_reads_and_updates_like_the_full_one() {
        let entries: BTreeMap<B256, Vec<u8>> = (0..100u64)
            .map(|i| (key(i), alloc::vec![i as u8 + 1; 33]))
            .collect();
        let mut nodes = BTreeMap::new();
        let root = collect_nodes(entries.clone(), &mut nodes);
        assert_eq!(root, reference_root(&entries));
        let mut trie = PartialTrie::from_root(root);
        assert_eq!(
            trie.get(key(7).as_slice(), &mut nodes).unwrap(),
            Some(alloc::vec![8; 33])
        );
        assert_eq!(trie.get(key(1000).as_slice(), &mut nodes).unwrap(), None);
        trie.remove(key(7).as_slice(), &mut nodes).unwrap();
        trie.insert(key(500).as_slice(), alloc::vec![9], &mut nodes)
            .unwrap();
        let mut expect = entries;
        expect.remove(&key(7));
        expect.insert(key(500), alloc::vec![9]);
        assert_eq!(trie.root(), reference_root(&expect));
    }

    #[test]
    fn remembered_hashes_are_forgotten_along_every_changed_path() {
        // A lazily resolved trie (hashes remembered from the source) and a complete one
        // (hashes remembered from earlier roots), updated at random with a root after
        // every step: a hash that outlived a change below it shows as a wrong root.
        let mut entries: BTreeMap<B256, Vec<u8>> = (0..200u64)
            .map(|i| (key(i), alloc::vec![i as u8 + 1; 40]))
            .collect();
        let mut nodes = BTreeMap::new();
        let root = collect_nodes(entries.clone(), &mut nodes);
        let mut lazy = PartialTrie::from_root(root);
        let mut complete = PartialTrie::new();
        let mut none = BTreeMap::new();
        for (k, v) in &entries {
            complete.insert(k.as_slice(), v.clone(), &mut none).unwrap();
        }
        assert_eq!(complete.root(), root);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for step in 0..400 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let k = key(x % 260);
            if x.is_multiple_of(3) {
                lazy.remove(k.as_slice(), &mut nodes).unwrap();
                complete.remove(k.as_slice(), &mut none).unwrap();
                entries.remove(&k);
            } else {
                let value = alloc::vec![(x >> 8) as u8; (x % 50 + 1) as usize];
                lazy.insert(k.as_slice(), value.clone(), &mut nodes)
                    .unwrap();
                complete
                    .insert(k.as_slice(), value.clone(), &mut none)
                    .unwrap();
                entries.insert(k, value);
            }
            let expected = reference_root(&entries);
            assert_eq!(lazy.root(), expected, "step {step}");
            assert_eq!(complete.root(), expected, "step {step}");
        }
    }

    #[test]
    fn a_missing_or_forged_node_is_an_error() {
        let entries: BTreeMap<B256, Vec<u8>> =
            (0..20u64).map(|i| (key(i), alloc::vec![7; 40])).collect();
        let mut nodes = BTreeMap::new();
        let root = collect_nodes(entries, &mut nodes);
        let mut trie = PartialTrie::from_root(root);
        let mut empty = BTreeMap::new();
        assert_eq!(
            trie.get(key(1).as_slice(), &mut empty),
            Err(TrieError::MissingNode(root))
        );
        // A source that answers with other bytes than the hash names is refused.
        let mut forged: BTreeMap<B256, Bytes> = nodes
            .keys()
            .map(|h| (*h, Bytes::from_static(&[0xc0])))
            .collect();
        assert!(matches!(
            PartialTrie::from_root(root).get(key(1).as_slice(), &mut forged),
            Err(TrieError::MissingNode(_))
        ));
        assert!(trie.get(key(1).as_slice(), &mut nodes).is_ok());
    }

    #[test]
    fn garbage_nodes_decode_to_errors_not_panics() {
        for bytes in [
            &[][..],
            &[0xc0],
            &[0xc2, 0x80, 0x80],
            &[0xf8],
            &[0xc3, 0x82, 0x20],
            &[0x80],
        ] {
            assert!(decode(bytes).is_err(), "{bytes:?}");
        }
    }
}
