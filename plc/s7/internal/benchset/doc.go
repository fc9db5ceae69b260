// Package benchset builds the tag set of the S7 scan benchmark: tags of
// mixed types scattered over data blocks, in clusters of adjacent tags
// with small or large gaps between the clusters, as PLC programs lay out
// their data.
package benchset
