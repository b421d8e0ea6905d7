//! The shuffle: each datanode serves the partitions of its finished map attempts' output over
//! HTTP, and reducers fetch their partition from every map.
