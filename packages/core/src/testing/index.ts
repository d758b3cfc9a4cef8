/** @module @keystore/core/testing */
export {};
