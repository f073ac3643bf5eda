// tsyringe (inside @peculiar/x509) needs the Reflect metadata API at load time, so it is loaded
// first; everything in this lib imports the library through this module.
import 'reflect-metadata';

export * from '@peculiar/x509';
