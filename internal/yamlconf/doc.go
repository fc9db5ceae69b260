// Package yamlconf is kiln's shared plumbing for YAML configuration files
// whose problems are reported where they stand: "file:line: field: msg".
//
// The loaders (the point database, the tenant registry, the example
// services' configurations) keep their own error types and messages; this
// package gives them the parts that are the same everywhere:
//
//   - Format writes the "file:line: field: msg" text of a located error;
//   - Split and CutLine take the line out of a go.yaml.in/yaml/v3 error;
//   - Walk, NodeAt and NodeLine find the node and line of a field path
//     such as "devices[1].driver" in a parsed document, so that a problem
//     found after decoding (by Validate) is still reported at its line;
//   - Index records the line of every key and item by path, and Nearest
//     finds a field's line, or its nearest parent's, in that record;
//   - Resolve follows an alias.
//
// The main call, after a Validate found a bad field:
//
//	var doc yaml.Node
//	_ = yaml.Unmarshal(data, &doc)
//	line := yamlconf.NodeLine(&doc, "devices[1].driver")
//	msg := yamlconf.Format(file, line, "devices[1].driver", "unknown driver")
package yamlconf
