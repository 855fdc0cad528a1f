import { mount } from 'svelte';
import App from './App.svelte';
import './styles.css';
import { studio } from './lib/studio.svelte.js';

mount(App, { target: document.getElementById('app')! });
void studio.start();
