// Package configs holds Weft's typed configuration: the structures that the command line and
// configuration files (read with viper, only here and in cmd/) fill, their defaults and their
// validation. Packages below take these typed values; none of them reads files or flags itself.
package configs
